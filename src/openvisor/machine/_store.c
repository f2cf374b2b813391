/* Interrupt latency after a store that pends an exception.
 *
 * A store to an NVIC or peripheral register can pend an exception that
 * preempts at once (STIR, ISPR, ICSR.PENDSVSET, a timer's UG bit). The
 * block hook would take it only at the start of the next translated
 * block, which may be hundreds of instructions later. Instead, the MMIO
 * write callback calls ov_store_stop, which calls uc_emu_stop.
 *
 * Unicorn 2.1.4, as observed by the tests in tests/integration/store_stops,
 * acts on a stop request right after the guest load or store that made
 * it, except inside IT blocks. It abandons the instruction that made the
 * access: PC stays at it and its registers keep their old values, but the
 * MMIO write has already happened. ov_complete_store then
 * finishes the instruction itself (base register write-back, PC past it),
 * so the exception is entered with the next instruction as its return
 * address, exactly one instruction after the store. The block's
 * instructions that never ran were counted already, and an MMIO access
 * may have seen that count: they become credit (_native.h), which the
 * next blocks use up before the count grows again.
 *
 * That is exact only when the abandoned instruction is a single store
 * (STR, STRB, STRH, STRT and their write-back forms) outside an IT block,
 * because Unicorn does not stop inside IT blocks. When a store in an IT
 * block may have made the write, ov_store_stop arms a stop before the
 * instruction after that IT block instead: a code hook there
 * (ov_it_exit_hook) stops the run, and nothing is abandoned. Python adds
 * that hook the first time the site is needed (it_exit_request), at most
 * OV_IT_EXITS of them, since Unicorn walks every code hook on each hooked
 * instruction it runs. A block may start inside an IT block when an IT
 * instruction lies up to 16 bytes before it, or when the run began in IT
 * state (after an exception return) up to 16 bytes before it.
 *
 * ov_store_stop declines, leaving the exception to the next block start,
 * when it cannot be sure of the above:
 * - the block contains another kind of store (STM, PUSH, STRD, STREX, STL,
 *   VSTR, VSTM) whose base register points near the written address;
 * - two IT blocks in the block contain a store that may have made the write;
 * - the IT block's end is unknown, or has no hook yet;
 * - the block is in SRAM and contained an IT when it began (its code may
 *   have been rewritten since), or lies outside flash and SRAM.
 */

#include "_native.h"

/* Single stores (STR, STRB, STRH): what the instruction at PC writes, and
 * how it changes its base register. */
struct ov_store {
    uint32_t length;     /* instruction bytes: 2 or 4 */
    uint32_t address;    /* first byte written */
    uint32_t size;       /* bytes written */
    int32_t writeback;   /* base register written back, or -1 */
    uint32_t new_base;
};

enum { OV_WRITES_NONE, OV_WRITES_SINGLE, OV_WRITES_OTHER, OV_IT };

#define OV_SP_REGISTER 13u
/* A store of several words writes at most this far from its base
 * register's value: STRD and VSTR offsets reach 1020 bytes, and VSTM or
 * VPUSH of 32 words adds 128. */
#define OV_MULTI_REACH 1152u
/* A block that starts inside an IT block starts at most 3 instructions of
 * up to 4 bytes after the IT instruction: within 16 bytes of it. */
#define OV_IT_LOOKBACK 16u

static const uint8_t *code_at(const struct ov_core *core, uint32_t address, uint32_t size)
{
    uint32_t offset = address - core->flash_base;
    if (offset < core->flash_size && size <= core->flash_size - offset) {
        return core->flash + offset;
    }
    offset = address - core->sram_base;
    if (offset < core->sram_size && size <= core->sram_size - offset) {
        return core->sram + offset;
    }
    return NULL;
}

static uint16_t halfword(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static int is_wide(uint16_t first)
{
    return (first >> 11) >= 0x1d;
}

static int is_it(uint16_t half)
{
    return (half & 0xff00u) == 0xbf00u && (half & 0x000fu);
}

static uint32_t gpr(struct ov_core *core, uc_engine *uc, uint32_t number)
{
    uint32_t value = 0;
    core->reg_read(uc, core->gpr_ids[number & 15u], &value);
    return value;
}

/* Classify one instruction: a single store, another kind of memory write
 * (its base register in *base), an IT instruction, or none of these. */
static int classify(uint16_t first, uint16_t second, uint32_t *base)
{
    if (!is_wide(first)) {
        uint16_t op7 = first & 0xfe00u;
        uint16_t op5 = first & 0xf800u;
        if (is_it(first)) {
            return OV_IT;
        }
        if (op7 == 0x5000u || op7 == 0x5200u || op7 == 0x5400u || op5 == 0x6000u ||
            op5 == 0x7000u || op5 == 0x8000u || op5 == 0x9000u) {
            return OV_WRITES_SINGLE;
        }
        if (op7 == 0xb400u) { /* PUSH */
            *base = OV_SP_REGISTER;
            return OV_WRITES_OTHER;
        }
        if (op5 == 0xc000u) { /* STM */
            *base = (first >> 8) & 7u;
            return OV_WRITES_OTHER;
        }
        return OV_WRITES_NONE;
    }
    *base = first & 15u;
    if ((first & 0xff10u) == 0xf800u) {
        uint16_t kind = first & 0xffe0u;
        if (kind == 0xf880u || kind == 0xf8a0u || kind == 0xf8c0u) {
            return OV_WRITES_SINGLE;
        }
        if (kind == 0xf800u || kind == 0xf820u || kind == 0xf840u) {
            if (second & 0x0800u) {
                /* imm8 forms: P or W must be set */
                return (second & 0x0500u) ? OV_WRITES_SINGLE : OV_WRITES_OTHER;
            }
            return (second & 0x0fc0u) == 0 ? OV_WRITES_SINGLE : OV_WRITES_OTHER;
        }
        return OV_WRITES_OTHER;
    }
    /* Load/store multiple, dual and exclusive (0xe8xx, 0xe9xx), and the
     * coprocessor and FP transfers (0xec, 0xed, 0xfc, 0xfd), with L clear. */
    if (((first & 0xfe00u) == 0xe800u || (first & 0xee00u) == 0xec00u) && !(first & 0x0010u)) {
        return OV_WRITES_OTHER;
    }
    return OV_WRITES_NONE;
}

/* Decode the single store `first`/`second` with the current registers.
 * Return 0 for anything else. */
static int decode_store(struct ov_core *core, uc_engine *uc, uint16_t first, uint16_t second,
                        struct ov_store *store)
{
    uint32_t base = 0;
    if (classify(first, second, &base) != OV_WRITES_SINGLE) {
        return 0;
    }
    store->writeback = -1;
    if (!is_wide(first)) {
        static const uint32_t register_sizes[3] = {4u, 2u, 1u};
        uint32_t rn = (first >> 3) & 7u;
        uint32_t imm5 = (first >> 6) & 31u;
        store->length = 2;
        switch (first & 0xf800u) {
        case 0x6000u: /* STR (immediate) */
            store->size = 4;
            store->address = gpr(core, uc, rn) + (imm5 << 2);
            return 1;
        case 0x7000u: /* STRB (immediate) */
            store->size = 1;
            store->address = gpr(core, uc, rn) + imm5;
            return 1;
        case 0x8000u: /* STRH (immediate) */
            store->size = 2;
            store->address = gpr(core, uc, rn) + (imm5 << 1);
            return 1;
        case 0x9000u: /* STR (SP plus immediate) */
            store->size = 4;
            store->address = reg_get(core, uc, OV_SP) + ((first & 0xffu) << 2);
            return 1;
        default: /* STR, STRH, STRB (register) */
            store->size = register_sizes[(first >> 9) & 3u];
            store->address = gpr(core, uc, rn) + gpr(core, uc, (first >> 6) & 7u);
            return 1;
        }
    }
    if (base == 15u) {
        return 0;
    }
    uint32_t rn_value = gpr(core, uc, base);
    store->length = 4;
    switch (first & 0xffe0u) {
    case 0xf800u:
    case 0xf880u:
        store->size = 1;
        break;
    case 0xf820u:
    case 0xf8a0u:
        store->size = 2;
        break;
    default:
        store->size = 4;
        break;
    }
    if (first & 0x0080u) { /* imm12 */
        store->address = rn_value + (second & 0x0fffu);
        return 1;
    }
    if (!(second & 0x0800u)) { /* register, shifted left by imm2 */
        store->address = rn_value + (gpr(core, uc, second & 15u) << ((second >> 4) & 3u));
        return 1;
    }
    uint32_t imm8 = second & 0xffu;
    uint32_t offset_address = (second & 0x0200u) ? rn_value + imm8 : rn_value - imm8;
    store->address = (second & 0x0400u) ? offset_address : rn_value;
    if (second & 0x0100u) {
        store->writeback = (int32_t)base;
        store->new_base = offset_address;
    }
    return 1;
}

/* Return how many instructions (1-4) the IT instruction `first` makes conditional. */
static uint32_t it_length(uint16_t first)
{
    uint32_t mask = first & 0x000fu;
    return 4u - (uint32_t)__builtin_ctz(mask);
}

/* Return 1 when [p, p + size) contains a halfword that looks like an IT instruction. */
uint32_t ov_contains_it(const uint8_t *p, uint32_t size)
{
    for (uint32_t offset = 0; offset + 1u < size; offset += 2u) {
        if (is_it(halfword(p + offset))) {
            return 1;
        }
    }
    return 0;
}

/* Return the address `count` instructions after `address`, or 0 when the
 * code there is not in flash or SRAM. */
static uint32_t skip_instructions(const struct ov_core *core, uint32_t address, uint32_t count)
{
    for (uint32_t n = 0; n < count; n++) {
        const uint8_t *p = code_at(core, address, 2);
        if (p == NULL) {
            return 0;
        }
        address += is_wide(halfword(p)) ? 4u : 2u;
    }
    return address;
}

enum { OV_PLAN_DECLINE, OV_PLAN_NOW, OV_PLAN_AT_EXIT };

/* Decide how to take the exception that a write of `address` pended,
 * from the code of the current block (see the top of this file):
 * - OV_PLAN_NOW: stop now, which abandons a single store outside IT
 *   blocks, the only instruction that may have made the write;
 * - OV_PLAN_AT_EXIT: a store in an IT block may have made it, and Unicorn
 *   does not stop inside IT blocks, so stop before the instruction after
 *   that IT block (*exit_pc), whose code hook ov_it_exit_hook stops;
 * - OV_PLAN_DECLINE: leave the exception to the next block start.
 * A store in an IT block may have made the write when its address from
 * the current registers matches, or cannot be worked out. */
static int plan_stop(struct ov_core *core, uc_engine *uc, uint32_t address, uint32_t *exit_pc)
{
    uint32_t block = (uint32_t)core->block_address;
    const uint8_t *p = code_at(core, block, 2);
    if (p == NULL) {
        return OV_PLAN_DECLINE;
    }
    if (block - core->sram_base < core->sram_size && core->sram_block_it) {
        /* The code may have changed since the block began: only what the
         * block hook saw then is certain, and SRAM has no IT exit hooks. */
        return OV_PLAN_DECLINE;
    }
    /* Instructions left in an IT block, and the address after it (0: not
     * known). A block may start inside an IT block when the run began in
     * IT state, or when an IT lies just before it. */
    uint32_t conditional = 0;
    uint32_t it_exit = 0;
    int unknown_exit = 0;
    if (block - core->it_resume_pc < OV_IT_LOOKBACK) {
        conditional = 4u;
        unknown_exit = 1;
    }
    uint32_t before = 0;
    while (before < OV_IT_LOOKBACK && code_at(core, block - before - 2u, before + 2u) != NULL) {
        before += 2u;
    }
    const uint8_t *previous = p - before;
    for (uint32_t offset = 0; offset < before; offset += 2) {
        uint16_t half = halfword(previous + offset);
        if (!is_it(half)) {
            continue;
        }
        /* Decode from the IT to the block: the IT covers what it has left.
         * A decode that does not land on the block start (the halfword was
         * data or half of another instruction) leaves all 4 possible. */
        uint32_t length = it_length(half);
        uint32_t at = offset + 2u;
        uint32_t passed = 0;
        while (at < before) {
            at += is_wide(halfword(previous + at)) ? 4u : 2u;
            passed++;
        }
        if (at != before) {
            conditional = 4u;
            unknown_exit = 1;
        } else if (passed < length && length - passed > conditional) {
            conditional = length - passed;
        }
    }
    if (conditional && !unknown_exit) {
        it_exit = skip_instructions(core, block, conditional);
    }
    int several_words = 0;
    uint32_t candidate_exit = 0;
    int candidate_in_it = 0;
    uint32_t at = block;
    for (uint32_t n = 0; n < core->block_count; n++) {
        p = code_at(core, at, 2);
        if (p == NULL) {
            return OV_PLAN_DECLINE;
        }
        uint16_t first = halfword(p);
        uint16_t second = 0;
        if (is_wide(first)) {
            p = code_at(core, at, 4);
            if (p == NULL) {
                return OV_PLAN_DECLINE;
            }
            second = halfword(p + 2);
        }
        at += is_wide(first) ? 4u : 2u;
        uint32_t base = 0;
        int kind = classify(first, second, &base);
        if (kind == OV_IT) {
            conditional = it_length(first);
            it_exit = skip_instructions(core, at, conditional);
            continue;
        }
        if (kind == OV_WRITES_OTHER &&
            address - gpr(core, uc, base) + OV_MULTI_REACH < 2u * OV_MULTI_REACH) {
            several_words = 1; /* it may be the store that made the write */
        }
        if (kind == OV_WRITES_SINGLE && conditional) {
            struct ov_store store;
            if (!decode_store(core, uc, first, second, &store) ||
                address - store.address < store.size) {
                if (it_exit == 0 || (candidate_in_it && candidate_exit != it_exit)) {
                    return OV_PLAN_DECLINE;
                }
                candidate_in_it = 1;
                candidate_exit = it_exit;
            }
        }
        if (conditional) {
            conditional--;
        }
    }
    if (candidate_in_it) {
        for (uint32_t i = 0; i < core->it_exit_count && i < OV_IT_EXITS; i++) {
            if (core->it_exits[i] == candidate_exit) {
                *exit_pc = candidate_exit;
                return OV_PLAN_AT_EXIT;
            }
        }
        /* No hook there yet: this time the exception waits for the block
         * end, and Python adds the hook before the run goes on. */
        if (candidate_exit - core->flash_base < core->flash_size) {
            core->it_exit_request = candidate_exit;
        }
        return OV_PLAN_DECLINE;
    }
    return several_words ? OV_PLAN_DECLINE : OV_PLAN_NOW;
}

/* Called from an MMIO write callback after a write of `address` that may
 * have pended an exception: stop right after the store if that exception
 * now preempts, or arm the stop after the store's IT block. Return 1 if a
 * stop was requested or armed. */
int ov_store_stop(uc_engine *uc, struct ov_core *core, uint32_t address)
{
    if (!core->counting || (core->stop_flags & OV_STOP_STORE) ||
        !(core->pending_prio < core->active_prio) || !ov_pending_preempts(core, uc)) {
        return 0;
    }
    uint32_t exit_pc = 0;
    switch (plan_stop(core, uc, address, &exit_pc)) {
    case OV_PLAN_NOW:
        core->stop_flags |= OV_STOP_STORE;
        core->store_address = address;
        core->emu_stop(uc);
        return 1;
    case OV_PLAN_AT_EXIT:
        core->it_exit_pc = exit_pc;
        return 1;
    default:
        return 0;
    }
}

/* UC_HOOK_CODE on an instruction after an IT block that contains a store
 * (it_exits in ov_core): stop before it when ov_store_stop armed it. */
void ov_it_exit_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    (void)size;
    if ((uint32_t)address == core->it_exit_pc && core->counting) {
        core->it_exit_pc = OV_NO_IT;
        core->stop_flags |= OV_STOP_IT_EXIT;
        core->emu_stop(uc);
    }
}

/* Turn the count of the current block's instructions from `next` on,
 * which never ran, into credit (see `credit` in _native.h). */
void ov_credit_rest(struct ov_core *core, uint32_t next)
{
    uint32_t block = (uint32_t)core->block_address;
    const uint8_t *code = next - block <= 0x1000u ? code_at(core, block, next - block) : NULL;
    if (code != NULL) {
        uint32_t executed = ov_count_thumb(code, next - block);
        if (executed <= core->block_count) {
            core->credit += core->block_count - executed;
            core->block_count = executed;
        }
    }
    /* The block is done: no breakpoint or trap rewind may use it again. */
    core->block_address = UINT64_MAX;
}

/* Finish the single store that ov_store_stop stopped in: write back its
 * base register, move PC past it and turn the count of the block's
 * instructions after it into credit. Return 0, changing nothing, when the
 * instruction at PC is not that store. */
int ov_complete_store(struct ov_core *core, uc_engine *uc)
{
    uint32_t pc = reg_get(core, uc, OV_PC) & ~1u;
    const uint8_t *p = code_at(core, pc, 2);
    struct ov_store store;
    if (p == NULL) {
        core->store_unverified++;
        return 0;
    }
    uint16_t first = halfword(p);
    uint16_t second = 0;
    if (is_wide(first)) {
        p = code_at(core, pc, 4);
        second = p != NULL ? halfword(p + 2) : 0;
    }
    if (!decode_store(core, uc, first, second, &store) ||
        core->store_address - store.address >= store.size) {
        core->store_unverified++;
        return 0;
    }
    /* NOTE: an SP write-back here skips the stack limit check that the
     * store itself would make (STKOF). */
    if (store.writeback >= 0) {
        core->reg_write(uc, core->gpr_ids[store.writeback], &store.new_base);
    }
    uint32_t next = pc + store.length;
    reg_set(core, uc, OV_PC, next | 1u);
    /* An MMIO access in the block already saw the count with every
     * instruction in it, so the count stays. */
    ov_credit_rest(core, next);
    core->store_stops++;
    return 1;
}
