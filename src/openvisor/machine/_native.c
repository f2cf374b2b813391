/* Native Unicorn hooks for the openvisor virtual clock.
 *
 * A Python hook that fires on every translated block cuts throughput about
 * 50-fold (about 18 MIPS), so the per-block work is done here. The block
 * hook counts the instructions of each block as it starts, stops emulation
 * at the next timer deadline, and stops as soon as a pending exception
 * becomes unmasked. Python reads the shared `ov_core` structure after
 * `uc_emu_start` returns.
 *
 * `ov_run` calls `uc_emu_start` in a loop and takes the common SVCall
 * entries and exception returns itself, between two runs, exactly as the
 * Python exception model in exceptions.py does. Any case it does not cover ends
 * the loop with the stop intact, and Python handles it.
 *
 * The hooks take no Unicorn headers: the few types they need are declared
 * below, and Unicorn functions arrive as pointers in `ov_core`.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct uc_struct uc_engine;
typedef int uc_err;

#define OV_CACHE_SIZE 4096u

/* Bits of ov_core.stop_flags. */
#define OV_STOP_DEADLINE 1u
#define OV_STOP_INTERRUPT 2u
#define OV_STOP_UNMASKED 4u
#define OV_STOP_MEMORY 8u

#define OV_NO_PENDING 0x7fffffff

/* QEMU exception numbers passed to the interrupt hook. */
#define OV_EXCP_SWI 2u
#define OV_EXCP_EXCEPTION_EXIT 8u

#define OV_NMI 2u
#define OV_SVCALL 11u
#define OV_THREAD_PRIORITY 256

#define OV_CONTROL_NPRIV 1u
#define OV_CONTROL_SPSEL 2u
#define OV_CONTROL_FPCA 4u
#define OV_XPSR_ALIGN (1u << 9)
#define OV_XPSR_T (1u << 24)
#define OV_IPSR_MASK 0x1ffu
#define OV_EXC_RETURN_BASE 0xffffffa0u
#define OV_EXC_RETURN_SPSEL 4u
#define OV_EXC_RETURN_MODE 8u
#define OV_EXC_RETURN_FTYPE 0x10u
#define OV_EXC_RETURN_DCRS 0x20u
#define OV_EXC_RETURN_S 0x40u
#define OV_BASIC_FRAME 32u

/* Indexes into ov_core.regids, filled with Unicorn register ids by Python. */
enum {
    OV_R0, OV_R1, OV_R2, OV_R3, OV_R12, OV_LR, OV_PC, OV_SP, OV_XPSR, OV_XPSR_NZCVQG,
    OV_IPSR, OV_CONTROL, OV_MSP, OV_PSP, OV_PRIMASK, OV_BASEPRI, OV_FAULTMASK, OV_REG_COUNT
};

/* Mirrors openvisor.machine._native.Core; keep the field order in sync. */
struct ov_core {
    uint64_t count;        /* instructions executed since power-on */
    uint64_t deadline;     /* stop at the first block boundary with count >= deadline */
    uint32_t stop_flags;   /* OV_STOP_* reasons of the last stop */
    uint32_t intno;        /* QEMU exception number of the last interrupt hook */
    int32_t pending_prio;  /* group priority of the best pending exception, or 0x7fffffff */
    int32_t active_prio;   /* execution priority from active exceptions alone (256: none) */
    uint32_t group_mask;   /* AIRCR.PRIGROUP mask applied to BASEPRI */
    uint32_t counting;     /* 0 while single-stepping: Python counts the one instruction */
    uint32_t mem_type;     /* uc_mem_type of the last invalid access */
    uint32_t mem_size;
    uint64_t mem_address;
    const uint8_t *flash;
    uint32_t flash_base;
    uint32_t flash_size;
    const uint8_t *sram;
    uint32_t sram_base;
    uint32_t sram_size;
    uc_err (*emu_stop)(uc_engine *uc);
    uc_err (*reg_read)(uc_engine *uc, int regid, void *value);
    int32_t reg_primask;
    int32_t reg_basepri;
    int32_t reg_faultmask;
    uint32_t block_count;  /* instructions of the last counted block */
    uint64_t block_address; /* start of the last counted block */
    uc_err (*emu_start)(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout,
                        size_t count);
    uc_err (*reg_write)(uc_engine *uc, int regid, const void *value);
    int32_t regids[OV_REG_COUNT];
    /* State that Python publishes before ov_run, and that ov_run keeps. */
    uint32_t native;        /* 1: ov_run may take SVCall entries and returns */
    uint32_t resync;        /* set by Python during a run: NVIC or SCB state changed */
    uint32_t vtor;
    int32_t svc_prio;       /* group priority of SVCall */
    int32_t other_prio;     /* active priority from active exceptions other than SVCall */
    uint32_t others_active; /* number of active exceptions other than SVCall */
    uint32_t sleep_on_exit; /* SCR.SLEEPONEXIT */
    uint32_t svc_active;    /* SVCall is active */
    uint32_t lone_active;   /* the only active exception if it is not SVCall, else 0 */
    uint32_t returned;      /* exception other than SVCall that ov_run returned from, or 0 */
    uint32_t nvic_changed;  /* ov_run changed svc_active or returned: Python updates its NVIC */
    uint32_t gateway_base;
    uint32_t gateway_size;
    uint32_t stop_pc;        /* PC after the last interrupt stop of ov_run */
    uint64_t native_entries; /* SVCall entries taken by ov_run */
    uint64_t native_returns; /* exception returns taken by ov_run */
    /* Direct-mapped cache of flash block sizes: key (address << 12 | size)
     * to instruction count. Flash changes only when an image is loaded,
     * which clears the cache; SRAM blocks are always decoded. */
    uint64_t cache_keys[OV_CACHE_SIZE];
    uint16_t cache_counts[OV_CACHE_SIZE];
};

/* Count Thumb instructions in [p, p + size): a halfword whose top five bits
 * are 0b11101, 0b11110 or 0b11111 starts a 32-bit instruction. */
static uint32_t count_thumb(const uint8_t *p, uint32_t size)
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

static uint32_t block_instructions(struct ov_core *core, uint32_t address, uint32_t size)
{
    uint32_t offset = address - core->flash_base;
    if (offset < core->flash_size && size <= core->flash_size - offset) {
        uint64_t key = ((uint64_t)address << 12) | (size & 0xfffu);
        uint32_t slot = (address >> 1) & (OV_CACHE_SIZE - 1u);
        if (core->cache_keys[slot] == key) {
            return core->cache_counts[slot];
        }
        uint32_t n = count_thumb(core->flash + offset, size);
        core->cache_keys[slot] = key;
        core->cache_counts[slot] = (uint16_t)n;
        return n;
    }
    offset = address - core->sram_base;
    if (offset < core->sram_size && size <= core->sram_size - offset) {
        return count_thumb(core->sram + offset, size);
    }
    /* Code elsewhere (the call gateway stubs) is 16-bit only. */
    return (size + 1) / 2;
}

/* Return 1 when the best pending exception now preempts: its group
 * priority is above the execution priority given by the active
 * exceptions, BASEPRI, PRIMASK and FAULTMASK (ARMv8-M ExecutionPriority). */
static int pending_preempts(struct ov_core *core, uc_engine *uc)
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

void ov_block_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;

    if (!core->counting) {
        return;
    }
    /* Stopping here keeps the block from running, so time stays exact. */
    if (core->count >= core->deadline) {
        core->stop_flags |= OV_STOP_DEADLINE;
        core->emu_stop(uc);
        return;
    }
    if (core->pending_prio < core->active_prio && pending_preempts(core, uc)) {
        core->stop_flags |= OV_STOP_UNMASKED;
        core->emu_stop(uc);
        return;
    }
    core->block_address = address;
    core->block_count = block_instructions(core, (uint32_t)address, size);
    core->count += core->block_count;
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

static uint32_t reg_get(struct ov_core *core, uc_engine *uc, int index)
{
    uint32_t value = 0;
    core->reg_read(uc, core->regids[index], &value);
    return value;
}

static void reg_set(struct ov_core *core, uc_engine *uc, int index, uint32_t value)
{
    core->reg_write(uc, core->regids[index], &value);
}

/* Return a pointer to `size` bytes of SRAM at `address`, or 0 outside SRAM. */
static uint8_t *sram_at(struct ov_core *core, uint32_t address, uint32_t size)
{
    uint64_t offset = (uint64_t)address - core->sram_base;
    if (address < core->sram_base || offset + size > core->sram_size) {
        return 0;
    }
    return (uint8_t *)core->sram + offset;
}

static uint32_t load_word(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void store_word(uint8_t *p, uint32_t value)
{
    p[0] = (uint8_t)value;
    p[1] = (uint8_t)(value >> 8);
    p[2] = (uint8_t)(value >> 16);
    p[3] = (uint8_t)(value >> 24);
}

/* Read a vector from flash or SRAM; return 0 when the address is elsewhere. */
static int read_vector(struct ov_core *core, uint32_t address, uint32_t *vector)
{
    uint64_t offset = (uint64_t)address - core->flash_base;
    if (address >= core->flash_base && offset + 4 <= core->flash_size) {
        *vector = load_word(core->flash + offset);
        return 1;
    }
    const uint8_t *p = sram_at(core, address, 4);
    if (p == 0) {
        return 0;
    }
    *vector = load_word(p);
    return 1;
}

/* Set IPSR, CONTROL, MSP and PSP so that Unicorn's banked SP agrees: the
 * same register sequence as ExceptionUnit._switch_mode with no FP state. */
static void switch_mode(struct ov_core *core, uc_engine *uc, uint32_t ipsr, uint32_t control,
                        uint32_t msp, uint32_t psp, uint32_t xpsr, int clear_faultmask)
{
    reg_set(core, uc, OV_IPSR, 1);
    if (clear_faultmask) {
        reg_set(core, uc, OV_FAULTMASK, 0);
    }
    reg_set(core, uc, OV_CONTROL, 0);
    reg_set(core, uc, OV_IPSR, 0);
    reg_set(core, uc, OV_CONTROL, 0);
    reg_set(core, uc, OV_MSP, msp);
    reg_set(core, uc, OV_PSP, psp);
    if (ipsr == 0) {
        if (control & OV_CONTROL_SPSEL) {
            reg_set(core, uc, OV_CONTROL, OV_CONTROL_SPSEL);
        }
    } else {
        reg_set(core, uc, OV_IPSR, ipsr);
    }
    uint32_t keep = OV_CONTROL_NPRIV | (ipsr == 0 ? OV_CONTROL_SPSEL : 0u);
    reg_set(core, uc, OV_CONTROL, control & keep);
    reg_set(core, uc, OV_XPSR_NZCVQG, (xpsr & ~OV_IPSR_MASK) | ipsr);
}

/* Take SVCall for the SVC before `return_address` (ExceptionUnit.supervisor_call
 * and enter); return 0, changing nothing, for any case left to Python. */
static int take_svcall(struct ov_core *core, uc_engine *uc, uint32_t return_address)
{
    static const int frame_regs[6] = {OV_R0, OV_R1, OV_R2, OV_R3, OV_R12, OV_LR};
    uint32_t svc_address = return_address - 2u;
    if (svc_address - core->gateway_base < core->gateway_size || core->svc_active) {
        return 0;
    }
    uint32_t xpsr = reg_get(core, uc, OV_XPSR);
    uint32_t control = reg_get(core, uc, OV_CONTROL);
    if (control & OV_CONTROL_FPCA) {
        return 0; /* extended frames stay in Python */
    }
    int handler_mode = (xpsr & OV_IPSR_MASK) != 0;
    int unprivileged = !handler_mode && (control & OV_CONTROL_NPRIV);
    uint32_t msp;
    uint32_t psp;
    if (unprivileged) {
        /* Unprivileged reads of MSP, PSP and the masks return zero: read them
         * with IPSR briefly non-zero. The IPSR write banks SP as exception
         * entry does, so MSP and PSP then read their own values
         * (ExceptionUnit.stack_pointers). */
        reg_set(core, uc, OV_IPSR, 1);
        msp = reg_get(core, uc, OV_MSP);
        psp = reg_get(core, uc, OV_PSP);
    } else {
        msp = reg_get(core, uc, OV_MSP);
        psp = reg_get(core, uc, OV_PSP);
    }
    uint32_t primask = reg_get(core, uc, OV_PRIMASK);
    uint32_t basepri = reg_get(core, uc, OV_BASEPRI) & 0xffu;
    uint32_t faultmask = reg_get(core, uc, OV_FAULTMASK);
    if (unprivileged) {
        reg_set(core, uc, OV_IPSR, 0);
    }

    int32_t priority = core->active_prio;
    if (basepri != 0 && (int32_t)(basepri & core->group_mask) < priority) {
        priority = (int32_t)(basepri & core->group_mask);
    }
    if ((primask & 1u) && priority > 0) {
        priority = 0;
    }
    if ((faultmask & 1u) && priority > -1) {
        priority = -1;
    }
    if (core->svc_prio >= priority) {
        return 0; /* escalation to HardFault */
    }

    int on_psp = !handler_mode && (control & OV_CONTROL_SPSEL);
    uint32_t sp = on_psp ? psp : msp;
    uint32_t frame = (sp - OV_BASIC_FRAME) & ~7u;
    uint8_t *stack = sram_at(core, frame, OV_BASIC_FRAME);
    uint32_t vector = 0;
    uint32_t vector_address = core->vtor + 4u * OV_SVCALL;
    if (stack == 0 || vector_address - core->gateway_base < core->gateway_size ||
        !read_vector(core, vector_address, &vector) || !(vector & 1u)) {
        return 0;
    }

    for (int i = 0; i < 6; i++) {
        store_word(stack + 4 * i, reg_get(core, uc, frame_regs[i]));
    }
    store_word(stack + 24, return_address & ~1u);
    store_word(stack + 28, (xpsr & ~OV_XPSR_ALIGN) | (((sp >> 2) & 1u) << 9));
    if (on_psp) {
        psp = frame;
    } else {
        msp = frame;
    }
    uint32_t exc_return = OV_EXC_RETURN_BASE | OV_EXC_RETURN_FTYPE;
    if (!handler_mode) {
        exc_return |= OV_EXC_RETURN_MODE;
    }
    if (on_psp) {
        exc_return |= OV_EXC_RETURN_SPSEL;
    }

    core->svc_active = 1;
    core->nvic_changed = 1;
    if (core->svc_prio < core->active_prio) {
        core->active_prio = core->svc_prio;
    }
    switch_mode(core, uc, OV_SVCALL, control & OV_CONTROL_NPRIV, msp, psp,
                OV_XPSR_T | OV_SVCALL, 0);
    reg_set(core, uc, OV_LR, exc_return);
    reg_set(core, uc, OV_PC, vector | 1u);
    core->native_entries++;
    return 1;
}

/* Return from the active exception through `exc_return`
 * (ExceptionUnit.exception_return) when it is SVCall or the only active
 * exception; return 0, changing nothing, for any case left to Python. */
static int return_from_exception(struct ov_core *core, uc_engine *uc, uint32_t exc_return)
{
    static const int frame_regs[6] = {OV_R0, OV_R1, OV_R2, OV_R3, OV_R12, OV_LR};
    if (core->sleep_on_exit || !(exc_return & OV_EXC_RETURN_FTYPE)) {
        return 0;
    }
    uint32_t xpsr = reg_get(core, uc, OV_XPSR);
    if ((exc_return & OV_EXC_RETURN_S) || !(exc_return & OV_EXC_RETURN_DCRS) ||
        (xpsr & OV_XPSR_T)) {
        return 0; /* S, ES (now in EPSR.T) or DCRS name the Secure state: left to Python */
    }
    uint32_t returning = xpsr & OV_IPSR_MASK;
    int to_thread = (exc_return & OV_EXC_RETURN_MODE) != 0;
    if (returning == OV_SVCALL && core->svc_active) {
        if (to_thread && core->others_active) {
            return 0; /* CCR.NONBASETHRDENA decides: left to Python */
        }
    } else if (returning == 0 || returning != core->lone_active || core->svc_active ||
               !to_thread) {
        return 0;
    }
    int on_psp = to_thread && (exc_return & OV_EXC_RETURN_SPSEL);
    uint32_t control = reg_get(core, uc, OV_CONTROL);
    uint32_t msp = reg_get(core, uc, OV_MSP);
    uint32_t psp = reg_get(core, uc, OV_PSP);
    uint32_t sp = on_psp ? psp : msp;
    const uint8_t *stack = sram_at(core, sp, OV_BASIC_FRAME);
    if (stack == 0) {
        return 0;
    }
    uint32_t return_address = load_word(stack + 24);
    uint32_t stacked_xpsr = load_word(stack + 28);
    uint32_t stacked_ipsr = stacked_xpsr & OV_IPSR_MASK;
    if (to_thread != (stacked_ipsr == 0) || !(stacked_xpsr & OV_XPSR_T)) {
        return 0;
    }

    uint32_t new_sp = sp + OV_BASIC_FRAME + ((stacked_xpsr & OV_XPSR_ALIGN) ? 4u : 0u);
    if (on_psp) {
        psp = new_sp;
    } else {
        msp = new_sp;
    }
    uint32_t new_control = control & OV_CONTROL_NPRIV;
    if (on_psp) {
        new_control |= OV_CONTROL_SPSEL;
    }
    if (returning == OV_SVCALL) {
        core->svc_active = 0;
        core->active_prio = core->other_prio;
    } else {
        core->returned = returning;
        core->lone_active = 0;
        core->others_active = 0;
        core->other_prio = OV_THREAD_PRIORITY;
        core->active_prio = OV_THREAD_PRIORITY;
    }
    core->nvic_changed = 1;
    switch_mode(core, uc, stacked_ipsr, new_control, msp, psp, stacked_xpsr & ~OV_XPSR_ALIGN,
                returning != OV_NMI);
    for (int i = 0; i < 6; i++) {
        reg_set(core, uc, frame_regs[i], load_word(stack + 4 * i));
    }
    reg_set(core, uc, OV_PC, return_address | 1u);
    core->native_returns++;
    return 1;
}

/* Run from PC until a stop that Python must handle; return the status of
 * the last uc_emu_start. SVCall entries, and returns from SVCall or from
 * the only active exception, are taken here while `native` is set,
 * nothing is pending and no deadline has passed. */
uc_err ov_run(uc_engine *uc, struct ov_core *core)
{
    uint64_t begin = reg_get(core, uc, OV_PC) | 1u;
    for (;;) {
        core->stop_flags = 0;
        uc_err status = core->emu_start(uc, begin, 0, 0, 0);
        if (status != 0 || !(core->stop_flags & OV_STOP_INTERRUPT)) {
            return status;
        }
        uint32_t pc = reg_get(core, uc, OV_PC);
        core->stop_pc = pc;
        if (core->stop_flags != OV_STOP_INTERRUPT || !core->native || core->resync ||
            core->pending_prio != OV_NO_PENDING || core->count >= core->deadline) {
            return status;
        }
        int handled = 0;
        if (core->intno == OV_EXCP_SWI) {
            handled = take_svcall(core, uc, pc);
        } else if (core->intno == OV_EXCP_EXCEPTION_EXIT) {
            handled = return_from_exception(core, uc, pc);
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
