/* Native Unicorn hooks for the openvisor virtual clock.
 *
 * A Python hook that fires on every translated block cuts throughput about
 * 50-fold (about 18 MIPS), so the per-block work is done here. The block
 * hook counts the instructions of each block as it starts, stops emulation
 * at the next timer deadline, and stops as soon as a pending exception
 * becomes unmasked. Python reads the shared `ov_core` structure after
 * `uc_emu_start` returns.
 *
 * `ov_run` calls `uc_emu_start` in a loop and, between two runs, takes the
 * common exception entries (SVCall, SysTick, PendSV, external interrupts),
 * tail-chaining and exception returns itself (_entry.c), exactly as the
 * Python exception model in exceptions.py does. It also pends SysTick at each wrap
 * that Python handed over in `systick_next`. Python publishes the NVIC state
 * (pending, enabled and active sets, priorities) into `ov_core` and applies
 * the loop's changes back (native_state.py), so the Python NVIC stays the
 * single source of truth. Any case the loop does not cover ends it with the
 * stop intact, and Python handles it.
 *
 * The hooks take no Unicorn headers: the few types they need are declared
 * below, and Unicorn functions arrive as pointers in `ov_core`.
 */

#include "_native.h"

/* Count Thumb instructions in [p, p + size): a halfword whose top five bits
 * are 0b11101, 0b11110 or 0b11111 starts a 32-bit instruction. */
uint32_t ov_count_thumb(const uint8_t *p, uint32_t size)
{
    uint32_t n = 0;
    uint32_t offset = 0;
    while (offset + 1 < size) {
        uint16_t half = (uint16_t)(p[offset] | (p[offset + 1] << 8));
        offset += ((half >> 11) >= 0x1d) ? 4u : 2u;
        n++;
    }
    return n;
}

/* Block cache entry: bit 63 set, the address in bits 24-55, the size in
 * bits 12-23 and the instruction count in bits 0-11. The set bit keeps a
 * cleared (zero) entry from matching any block. Sizes above 0xfff are
 * never cached. */
#define OV_CACHE_VALID (1ull << 63)
#define OV_CACHE_COUNT 0xfffull

static inline uint64_t cache_key(uint64_t address, uint32_t size)
{
    return OV_CACHE_VALID | (address << 24) | ((uint64_t)size << 12);
}

static inline uint32_t cache_slot(uint64_t address)
{
    return ((uint32_t)address >> 1) & (OV_CACHE_SIZE - 1u);
}

static uint32_t block_instructions(struct ov_core *core, uint32_t address, uint32_t size)
{
    uint32_t offset = address - core->flash_base;
    if (offset < core->flash_size && size <= core->flash_size - offset) {
        uint32_t n = ov_count_thumb(core->flash + offset, size);
        /* The count is at most size / 2, so it fits whenever the size does. */
        if (size <= OV_CACHE_COUNT) {
            core->cache_entries[cache_slot(address)] = cache_key(address, size) | n;
        }
        return n;
    }
    offset = address - core->sram_base;
    if (offset < core->sram_size && size <= core->sram_size - offset) {
        /* Only flash code is scanned for MSR MSPLIM/PSPLIM: code in SRAM
         * may have changed the stack limits. */
        core->limits_valid = 0;
        /* SRAM code may be rewritten while its block runs, so the store
         * stops (_store.c) rely on what it held as the block began. */
        uint32_t before = offset < 16u ? offset : 16u;
        core->sram_block_it = ov_contains_it(core->sram + offset - before, size + before);
        return ov_count_thumb(core->sram + offset, size);
    }
    /* Code elsewhere (the call gateway stubs) is 16-bit only. */
    return (size + 1) / 2;
}

/* Return 1 when the best pending exception now preempts: its group
 * priority is above the execution priority given by the active
 * exceptions, BASEPRI, PRIMASK and FAULTMASK (ARMv8-M ExecutionPriority). */
int ov_pending_preempts(struct ov_core *core, uc_engine *uc)
{
    uint32_t primask = 0;
    uint32_t basepri = 0;
    uint32_t faultmask = 0;
    int32_t priority = core->active_prio;

    core->reg_read(uc, core->reg_faultmask, &faultmask);
    if (faultmask & 1u) {
        priority = -1;
    }
    core->reg_read(uc, core->reg_primask, &primask);
    if ((primask & 1u) && priority > 0) {
        priority = 0;
    }
    core->reg_read(uc, core->reg_basepri, &basepri);
    basepri &= 0xffu;
    if (basepri != 0) {
        int32_t boost = (int32_t)(basepri & core->group_mask);
        if (boost < priority) {
            priority = boost;
        }
    }
    return core->pending_prio < priority;
}

/* The block hook for every case but a cached flash block with nothing to
 * stop for: stop before the block, or count it and cache its count. */
static __attribute__((noinline)) void block_hook_slow(uc_engine *uc, uint64_t address,
                                                      uint32_t size, struct ov_core *core)
{
    if (!core->counting) {
        return;
    }
    /* Stopping here keeps the block from running, so time stays exact. */
    if (core->count >= core->deadline) {
        core->stop_flags |= OV_STOP_DEADLINE;
        core->emu_stop(uc);
        return;
    }
    if (core->count >= core->systick_next) {
        core->stop_flags |= OV_STOP_SYSTICK;
        core->emu_stop(uc);
        return;
    }
    /* NOTE: while a pending exception stays masked by PRIMASK, BASEPRI or
     * FAULTMASK, this reads those registers before every block. */
    if (core->pending_prio < core->active_prio && ov_pending_preempts(core, uc)) {
        core->stop_flags |= OV_STOP_UNMASKED;
        core->emu_stop(uc);
        return;
    }
    core->block_address = address;
    uint32_t n = block_instructions(core, (uint32_t)address, size);
    core->block_count = n;
    uint64_t used = core->credit < n ? core->credit : n;
    core->credit -= used;
    core->block_credit = used;
    core->count += n - (uint32_t)used;
}

/* UC_HOOK_BLOCK, called before every translated block runs. The common
 * case, a cached flash block with nothing due, takes a few loads and
 * compares. Every other case goes to block_hook_slow. */
void ov_block_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    uint64_t count = core->count;

    if (__builtin_expect(!core->counting || count >= core->deadline ||
                             count >= core->systick_next ||
                             core->pending_prio < core->active_prio || core->credit,
                         0)) {
        block_hook_slow(uc, address, size, core);
        return;
    }
    /* Only flash blocks are cached, so a hit needs no range check. */
    uint64_t entry = core->cache_entries[cache_slot(address)];
    if (__builtin_expect(size > OV_CACHE_COUNT ||
                             (entry & ~OV_CACHE_COUNT) != cache_key(address, size),
                         0)) {
        block_hook_slow(uc, address, size, core);
        return;
    }
    uint32_t n = (uint32_t)(entry & OV_CACHE_COUNT);
    core->block_address = address;
    core->block_count = n;
    core->block_credit = 0;
    core->count = count + n;
}

void ov_interrupt_hook(uc_engine *uc, uint32_t intno, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    core->stop_flags |= OV_STOP_INTERRUPT;
    core->intno = intno;
    core->emu_stop(uc);
}

/* UC_HOOK_MEM_INVALID: record the access and let Unicorn end the run. */
int ov_invalid_hook(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                    void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    (void)uc;
    (void)value;
    core->stop_flags |= OV_STOP_MEMORY;
    core->mem_type = (uint32_t)type;
    core->mem_address = address;
    core->mem_size = (uint32_t)size;
    return 0;
}

/* UC_HOOK_CODE on an MSR MSPLIM or MSR PSPLIM in flash: the instruction is
 * about to change a stack limit, so the published limits go stale. */
void ov_limit_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    (void)uc;
    (void)address;
    (void)size;
    core->limits_valid = 0;
}

/* Enter the published best pending exception now if it preempts, as the
 * run loop does before each slice. Return 1 if it was entered. */
int ov_take_pending(uc_engine *uc, struct ov_core *core)
{
    if (!core->native || core->resync) {
        return 0;
    }
    return ov_take_pending_at(core, uc, reg_get(core, uc, OV_PC) & ~1u);
}

/* Run from PC until a stop that Python must handle; return the status of
 * the last uc_emu_start. While `native` is set and no deadline has passed,
 * SysTick wraps, SVCall entries, entries of the best pending exception when
 * the block hook finds it unmasked or a store pended it (_store.c), and
 * exception returns are taken here. */
uc_err ov_run(uc_engine *uc, struct ov_core *core)
{
    uint64_t begin = reg_get(core, uc, OV_PC) | 1u;
    for (;;) {
        core->stop_flags = 0;
        core->it_resume_pc =
            (reg_get(core, uc, OV_XPSR) & OV_XPSR_IT) ? (uint32_t)begin & ~1u : OV_NO_IT;
        core->it_exit_pc = OV_NO_IT;
        uc_err status = core->emu_start(uc, begin, 0, 0, 0);
        if (status != 0) {
            return status;
        }
        uint32_t flags = core->stop_flags;
        if (flags & OV_STOP_STORE) {
            /* The stop abandoned the store: finish it on either exception path. */
            if (!ov_complete_store(core, uc)) {
                return status;
            }
        }
        uint32_t pc = reg_get(core, uc, OV_PC);
        if (flags & OV_STOP_IT_EXIT) {
            ov_credit_rest(core, pc & ~1u);
        }
        if (core->it_exit_request) {
            return status; /* Python adds the IT exit hook first (_store.c) */
        }
        if (flags & OV_STOP_INTERRUPT) {
            core->stop_pc = pc;
        }
        if ((flags != OV_STOP_INTERRUPT && flags != OV_STOP_UNMASKED &&
             flags != OV_STOP_SYSTICK && flags != OV_STOP_STORE && flags != OV_STOP_IT_EXIT) ||
            !core->native || core->resync || core->count >= core->deadline) {
            return status;
        }
        int handled = 0;
        if (flags == OV_STOP_SYSTICK) {
            ov_pend_systick(core);
            ov_take_pending_at(core, uc, pc & ~1u);
            handled = 1;
        } else if (flags == OV_STOP_UNMASKED || flags == OV_STOP_STORE ||
                   flags == OV_STOP_IT_EXIT) {
            /* A stop inside a block comes after the block's count, which
             * may have passed a SysTick wrap: pend it first, as the block
             * hook does at a block start. */
            if (flags != OV_STOP_UNMASKED && core->count >= core->systick_next) {
                ov_pend_systick(core);
            }
            handled = ov_take_pending_at(core, uc, pc & ~1u);
        } else if (core->intno == OV_EXCP_SWI) {
            handled = ov_take_svcall(core, uc, pc);
        } else if (core->intno == OV_EXCP_EXCEPTION_EXIT) {
            handled = ov_return_from_exception(core, uc, pc);
        }
        if (!handled) {
            return status;
        }
        begin = reg_get(core, uc, OV_PC) | 1u;
    }
}

/* Complete a gateway call: R0 gets `result` and execution continues at LR. */
void ov_finish_call(uc_engine *uc, struct ov_core *core, uint32_t result)
{
    reg_set(core, uc, OV_R0, result);
    reg_set(core, uc, OV_PC, reg_get(core, uc, OV_LR) | 1u);
}
