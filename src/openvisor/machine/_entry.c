/* Exception entry and return for the native run loop in _native.c.
 *
 * Each function mirrors its counterpart in exceptions.py (ExceptionUnit)
 * register for register, so both paths leave identical frames and state.
 */

#include "_native.h"

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

/* Read a vector from flash or SRAM, or return 0 when the address is elsewhere. */
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

static int is_active(const struct ov_core *core, uint32_t exception)
{
    return exception < OV_EXCEPTIONS && ((core->active[exception / 32] >> (exception % 32)) & 1u);
}

/* Recompute active_prio, and return the number of active exceptions. */
uint32_t ov_update_active_priority(struct ov_core *core)
{
    int32_t priority = OV_THREAD_PRIORITY;
    uint32_t count = 0;
    for (uint32_t word = 0; word < OV_EXCEPTION_WORDS; word++) {
        uint32_t bits = core->active[word];
        while (bits) {
            uint32_t exception = word * 32u + (uint32_t)__builtin_ctz(bits);
            bits &= bits - 1u;
            count++;
            if (core->priority[exception] < priority) {
                priority = core->priority[exception];
            }
        }
    }
    core->active_prio = priority;
    return count;
}

/* Recompute pending_exc, pending_prio and next_pending_prio from the
 * pending and enabled sets, in the order of Nvic.best_pending: group
 * priority, then full priority, then exception number. */
void ov_update_pending(struct ov_core *core)
{
    uint32_t best = 0;
    int32_t best_group = OV_NO_PENDING;
    int32_t best_order = 0;
    int32_t second_group = OV_NO_PENDING;
    for (uint32_t word = 0; word < OV_EXCEPTION_WORDS; word++) {
        uint32_t bits = core->pending[word] & core->enabled[word];
        while (bits) {
            uint32_t exception = word * 32u + (uint32_t)__builtin_ctz(bits);
            bits &= bits - 1u;
            int32_t group = core->priority[exception];
            int32_t order = core->order[exception];
            /* Exceptions come in rising number order, so a tie keeps the first. */
            if (best == 0 || group < best_group || (group == best_group && order < best_order)) {
                if (best != 0) {
                    second_group = best_group;
                }
                best = exception;
                best_group = group;
                best_order = order;
            } else if (group < second_group) {
                second_group = group;
            }
        }
    }
    core->pending_exc = best;
    core->pending_prio = best_group;
    core->next_pending_prio = second_group;
}

/* Pend SysTick for the wrap the count has reached (SysTick._on_zero) and
 * move systick_next to the first wrap after the count. */
void ov_pend_systick(struct ov_core *core)
{
    core->pending[OV_SYSTICK / 32] |= 1u << (OV_SYSTICK % 32);
    core->systick_wraps++;
    if (core->systick_period == 0) {
        core->systick_next = OV_NEVER;
    } else {
        while (core->systick_next <= core->count) {
            core->systick_next += core->systick_period;
        }
    }
    core->nvic_changed = 1;
    ov_update_pending(core);
}

/* Core state an entry needs, with MSP, PSP and the masks read privileged. */
struct ov_state {
    uint32_t xpsr;
    uint32_t control;
    uint32_t msp;
    uint32_t psp;
    uint32_t primask;
    uint32_t basepri;
    uint32_t faultmask;
};

static void read_state(struct ov_core *core, uc_engine *uc, struct ov_state *state)
{
    state->xpsr = reg_get(core, uc, OV_XPSR);
    state->control = reg_get(core, uc, OV_CONTROL);
    int unprivileged = (state->xpsr & OV_IPSR_MASK) == 0 && (state->control & OV_CONTROL_NPRIV);
    if (unprivileged) {
        /* Unprivileged reads of MSP, PSP and the masks return zero: read them
         * with IPSR briefly non-zero. The IPSR write banks SP as exception
         * entry does, so MSP and PSP then read their own values
         * (ExceptionUnit.stack_pointers). */
        reg_set(core, uc, OV_IPSR, 1);
    }
    state->msp = reg_get(core, uc, OV_MSP);
    state->psp = reg_get(core, uc, OV_PSP);
    state->primask = reg_get(core, uc, OV_PRIMASK);
    state->basepri = reg_get(core, uc, OV_BASEPRI) & 0xffu;
    state->faultmask = reg_get(core, uc, OV_FAULTMASK);
    if (unprivileged) {
        reg_set(core, uc, OV_IPSR, 0);
    }
}

/* ARMv8-M ExecutionPriority, in the order of Nvic.execution_priority. */
static int32_t execution_priority(const struct ov_core *core, const struct ov_state *state)
{
    int32_t priority = core->active_prio;
    if (state->basepri != 0 && (int32_t)(state->basepri & core->group_mask) < priority) {
        priority = (int32_t)(state->basepri & core->group_mask);
    }
    if ((state->primask & 1u) && priority > 0) {
        priority = 0;
    }
    if ((state->faultmask & 1u) && priority > -1) {
        priority = -1;
    }
    return priority;
}

/* Set IPSR, CONTROL, MSP and PSP so that Unicorn's banked SP agrees: the
 * same register sequence as ExceptionUnit._switch_mode. */
static void switch_mode(struct ov_core *core, uc_engine *uc, uint32_t ipsr, uint32_t control,
                        uint32_t msp, uint32_t psp, uint32_t xpsr, int clear_faultmask)
{
    uint32_t fp_bits = control & OV_CONTROL_FPCA;
    if (fp_bits) {
        fp_bits |= OV_CONTROL_SFPA; /* keeps Unicorn from resetting FPSCR on the next FP op */
    }
    reg_set(core, uc, OV_IPSR, 1);
    if (clear_faultmask) {
        reg_set(core, uc, OV_FAULTMASK, 0);
    }
    reg_set(core, uc, OV_CONTROL, fp_bits);
    reg_set(core, uc, OV_IPSR, 0);
    reg_set(core, uc, OV_CONTROL, fp_bits);
    reg_set(core, uc, OV_MSP, msp);
    reg_set(core, uc, OV_PSP, psp);
    if (ipsr == 0) {
        if (control & OV_CONTROL_SPSEL) {
            reg_set(core, uc, OV_CONTROL, fp_bits | OV_CONTROL_SPSEL);
        }
    } else {
        reg_set(core, uc, OV_IPSR, ipsr);
    }
    uint32_t keep = OV_CONTROL_NPRIV | (ipsr == 0 ? OV_CONTROL_SPSEL : 0u);
    reg_set(core, uc, OV_CONTROL, fp_bits | (control & keep));
    reg_set(core, uc, OV_XPSR_NZCVQG, (xpsr & ~OV_IPSR_MASK) | ipsr);
    /* Rebuild Unicorn's cached privilege level (ExceptionUnit._switch_mode). */
    reg_set(core, uc, OV_APSR_NZCV, xpsr & 0xf0000000u);
}

/* Stack the context and start the handler of `exception` (ExceptionUnit.enter),
 * with the same frame, registers and bookkeeping. Return 0, changing
 * nothing, for every case left to Python: a frame outside SRAM or below the
 * stack limit, stack limits not known, a vector outside flash and SRAM or
 * without the Thumb bit. */
static int enter_exception(struct ov_core *core, uc_engine *uc, uint32_t exception,
                           uint32_t return_address, const struct ov_state *state)
{
    static const int frame_regs[6] = {OV_R0, OV_R1, OV_R2, OV_R3, OV_R12, OV_LR};
    if (exception == 0 || exception >= OV_EXCEPTIONS || !core->limits_valid) {
        return 0;
    }
    int handler_mode = (state->xpsr & OV_IPSR_MASK) != 0;
    int on_psp = !handler_mode && (state->control & OV_CONTROL_SPSEL);
    int extended = (state->control & OV_CONTROL_FPCA) != 0;
    uint32_t sp = on_psp ? state->psp : state->msp;
    uint32_t frame_size = extended ? OV_EXTENDED_FRAME : OV_BASIC_FRAME;
    uint32_t frame = (sp - frame_size) & ~7u;
    uint32_t limit = on_psp ? core->psplim : core->msplim;
    uint8_t *stack = sram_at(core, frame, frame_size);
    if (stack == 0 || frame < limit) {
        return 0; /* STACKING crash or STKOF UsageFault: Python */
    }
    uint32_t vector = 0;
    uint32_t vector_address = core->vtor + 4u * exception;
    if (vector_address - core->gateway_base < core->gateway_size ||
        !read_vector(core, vector_address, &vector) || !(vector & 1u)) {
        return 0;
    }

    for (int i = 0; i < 6; i++) {
        store_word(stack + 4 * i, reg_get(core, uc, frame_regs[i]));
    }
    store_word(stack + 24, return_address & ~1u);
    store_word(stack + 28, (state->xpsr & ~OV_XPSR_ALIGN) | (((sp >> 2) & 1u) << 9));
    if (extended) {
        /* S0-S15, FPSCR and a reserved word, written at entry also with lazy
         * stacking: until the handler's first FP instruction the registers
         * hold what a lazy save would store. */
        for (int i = 0; i < 16; i++) {
            store_word(stack + OV_BASIC_FRAME + 4 * i, reg_get(core, uc, OV_S0 + i));
        }
        store_word(stack + OV_BASIC_FRAME + 64, reg_get(core, uc, OV_FPSCR));
        store_word(stack + OV_BASIC_FRAME + 68, 0);
        if (core->fpccr & OV_FPCCR_LSPEN) {
            core->fpccr |= OV_FPCCR_LSPACT;
        }
        core->fpcar = frame + OV_BASIC_FRAME;
    }
    uint32_t msp = on_psp ? state->msp : frame;
    uint32_t psp = on_psp ? frame : state->psp;
    uint32_t exc_return = OV_EXC_RETURN_BASE;
    if (!extended) {
        exc_return |= OV_EXC_RETURN_FTYPE;
    }
    if (!handler_mode) {
        exc_return |= OV_EXC_RETURN_MODE;
    }
    if (on_psp) {
        exc_return |= OV_EXC_RETURN_SPSEL;
    }

    core->active[exception / 32] |= 1u << (exception % 32);
    if (core->pending[exception / 32] & (1u << (exception % 32))) {
        core->pending[exception / 32] &= ~(1u << (exception % 32));
        ov_update_pending(core);
    }
    if (core->priority[exception] < core->active_prio) {
        core->active_prio = core->priority[exception];
    }
    core->nvic_changed = 1;
    switch_mode(core, uc, exception, state->control & OV_CONTROL_NPRIV, msp, psp,
                OV_XPSR_T | exception, 0);
    reg_set(core, uc, OV_LR, exc_return);
    reg_set(core, uc, OV_PC, vector | 1u);
    core->native_entries++;
    return 1;
}

/* Take SVCall for the SVC before `return_address` (ExceptionUnit.supervisor_call).
 * Return 0, changing nothing, for any case left to Python. */
int ov_take_svcall(struct ov_core *core, uc_engine *uc, uint32_t return_address)
{
    uint32_t svc_address = return_address - 2u;
    if (svc_address - core->gateway_base < core->gateway_size || is_active(core, OV_SVCALL)) {
        return 0;
    }
    struct ov_state state;
    read_state(core, uc, &state);
    if (core->priority[OV_SVCALL] >= execution_priority(core, &state)) {
        return 0; /* escalation to HardFault */
    }
    return enter_exception(core, uc, OV_SVCALL, return_address, &state);
}

/* Enter the published best pending exception if it preempts now
 * (ExceptionUnit.take_pending). Return 0 when nothing was entered. */
int ov_take_pending_at(struct ov_core *core, uc_engine *uc, uint32_t return_address)
{
    if (core->pending_exc == 0) {
        return 0;
    }
    struct ov_state state;
    read_state(core, uc, &state);
    if (core->pending_prio >= execution_priority(core, &state)) {
        return 0;
    }
    return enter_exception(core, uc, core->pending_exc, return_address, &state);
}

/* Return from the active exception through `exc_return`
 * (ExceptionUnit.exception_return). Return 0, changing nothing, for any
 * case left to Python. */
int ov_return_from_exception(struct ov_core *core, uc_engine *uc, uint32_t exc_return)
{
    static const int frame_regs[6] = {OV_R0, OV_R1, OV_R2, OV_R3, OV_R12, OV_LR};
    if (core->sleep_on_exit) {
        return 0;
    }
    uint32_t xpsr = reg_get(core, uc, OV_XPSR);
    if ((exc_return & OV_EXC_RETURN_S) || !(exc_return & OV_EXC_RETURN_DCRS) ||
        (xpsr & OV_XPSR_T)) {
        return 0; /* S, ES (now in EPSR.T) or DCRS name the Secure state: left to Python */
    }
    uint32_t returning = xpsr & OV_IPSR_MASK;
    if (!is_active(core, returning)) {
        return 0; /* INVPC UsageFault */
    }
    int to_thread = (exc_return & OV_EXC_RETURN_MODE) != 0;
    uint32_t others = 0;
    for (uint32_t word = 0; word < OV_EXCEPTION_WORDS; word++) {
        others |= core->active[word] & ~(word == returning / 32 ? 1u << (returning % 32) : 0u);
    }
    if (to_thread && others && !(core->ccr & 1u)) {
        return 0; /* CCR.NONBASETHRDENA clear: INVPC UsageFault */
    }
    int on_psp = to_thread && (exc_return & OV_EXC_RETURN_SPSEL);
    int extended = !(exc_return & OV_EXC_RETURN_FTYPE);
    uint32_t frame_size = extended ? OV_EXTENDED_FRAME : OV_BASIC_FRAME;
    uint32_t control = reg_get(core, uc, OV_CONTROL);
    uint32_t msp = reg_get(core, uc, OV_MSP);
    uint32_t psp = reg_get(core, uc, OV_PSP);
    uint32_t sp = on_psp ? psp : msp;
    const uint8_t *stack = sram_at(core, sp, frame_size);
    if (stack == 0) {
        return 0;
    }
    uint32_t return_address = load_word(stack + 24);
    uint32_t stacked_xpsr = load_word(stack + 28);
    uint32_t stacked_ipsr = stacked_xpsr & OV_IPSR_MASK;
    if (to_thread != (stacked_ipsr == 0) || !(stacked_xpsr & OV_XPSR_T)) {
        return 0;
    }

    uint32_t new_sp = sp + frame_size + ((stacked_xpsr & OV_XPSR_ALIGN) ? 4u : 0u);
    if (on_psp) {
        psp = new_sp;
    } else {
        msp = new_sp;
    }
    uint32_t new_control = control & OV_CONTROL_NPRIV;
    if (on_psp) {
        new_control |= OV_CONTROL_SPSEL;
    }
    if ((core->fpccr & OV_FPCCR_LSPACT) && (control & OV_CONTROL_FPCA)) {
        /* An FP instruction ran since entry reserved the FP frame: it did the
         * lazy state preservation, which clears LSPACT
         * (ExceptionUnit.settle_lazy_state). */
        core->fpccr &= ~OV_FPCCR_LSPACT;
        core->nvic_changed = 1;
    }
    core->active[returning / 32] &= ~(1u << (returning % 32));
    ov_update_active_priority(core);
    core->nvic_changed = 1;
    if (core->levels[returning / 32] & (1u << (returning % 32))) {
        /* The interrupt line is still asserted: the NVIC pends it again. */
        core->pending[returning / 32] |= 1u << (returning % 32);
        ov_update_pending(core);
    }
    if (extended) {
        new_control |= OV_CONTROL_FPCA;
        core->fpccr &= ~OV_FPCCR_LSPACT;
        for (int i = 0; i < 16; i++) {
            reg_set(core, uc, OV_S0 + i, load_word(stack + OV_BASIC_FRAME + 4 * i));
        }
        reg_set(core, uc, OV_FPSCR, load_word(stack + OV_BASIC_FRAME + 64));
    }
    switch_mode(core, uc, stacked_ipsr, new_control, msp, psp, stacked_xpsr & ~OV_XPSR_ALIGN,
                returning != OV_NMI);
    for (int i = 0; i < 6; i++) {
        reg_set(core, uc, frame_regs[i], load_word(stack + 4 * i));
    }
    reg_set(core, uc, OV_PC, return_address | 1u);
    core->native_returns++;
    return 1;
}

/* Recompute the best pending exception and the active priority after
 * Python published new pending, enabled, active or priority state. */
void ov_refresh(struct ov_core *core)
{
    ov_update_pending(core);
    ov_update_active_priority(core);
}
