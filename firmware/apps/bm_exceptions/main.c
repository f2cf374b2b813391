/* Exception model checks, each printing one "name=value" console line.
 * They cover SVC arguments and results, UsageFault and HardFault routing,
 * nested preemption, tail-chaining order and BASEPRI/PRIMASK masking with
 * delivery right after unmasking. Further checks: STIR latency, NVIC
 * register views, the FP extended frame in an IRQ, unprivileged Thread
 * mode, VTOR relocation and SysTick COUNTFLAG. Ends with "exceptions done". */

#include <string.h>

#include "bm_io.h"

#define SCB_VTOR REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define NVIC_IABR(n) REG32(0xE000E300u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define NVIC_ITNS(n) REG32(0xE000E380u + 4u * (n))

#define IRQ_LOW 41u  /* TIM1_BRK */
#define IRQ_HIGH 51u /* TIM8_BRK */
#define IRQ_THIRD 43u /* TIM1_TRG_COM */

static volatile uint32_t order[8];
static volatile uint32_t order_count;
static volatile uint32_t usage_cfsr;
static volatile uint32_t hard_hfsr;
static volatile uint32_t low_lr;
static volatile uint32_t low_active_bits;
static volatile float irq_float;
static volatile uint32_t svc_control;
static volatile uint32_t relocated_hits;
static uint32_t ram_vectors[16 + 125] __attribute__((aligned(512)));

static void record(uint32_t value)
{
    if (order_count < 8u) {
        order[order_count++] = value;
    }
}

static void enable_irq(uint32_t irq, uint8_t priority)
{
    NVIC_IPR8(irq) = priority;
    NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

static void pend_irq(uint32_t irq)
{
    NVIC_ISPR(irq / 32u) = 1u << (irq % 32u);
}

/* SVC #n: returns r0 + r1 * n in the stacked R0; SVC #2 drops privilege
 * back to privileged Thread mode by clearing CONTROL.nPRIV. */
void svc_dispatch(uint32_t *frame)
{
    uint16_t instruction = *(uint16_t *)(frame[6] - 2u);
    uint32_t number = instruction & 0xFFu;
    uint32_t control;
    __asm volatile("mrs %0, control" : "=r"(control));
    svc_control = control;
    if (number == 2u) {
        __asm volatile("msr control, %0\n isb" ::"r"(control & ~1u));
        return;
    }
    frame[0] = frame[0] + frame[1] * number;
}

BM_FRAME_HANDLER(SVC_Handler, svc_dispatch)

/* Fault handlers skip the faulting 16-bit UDF by advancing the stacked PC. */
void UsageFault_Handler(void)
{
    uint32_t *frame;
    __asm volatile("mrs %0, msp" : "=r"(frame));
    usage_cfsr = SCB_CFSR;
    SCB_CFSR = usage_cfsr;
    /* The frame sits above this handler's own stack use: find the PC slot. */
    for (int i = 0; i < 32; i++) {
        if ((frame[i] & 0xFFFF0000u) == 0x08000000u && *(uint16_t *)frame[i] == 0xDE01u &&
            (frame[i + 1] & (1u << 24))) {
            frame[i] += 2u;
            break;
        }
    }
}

void HardFault_Handler(void)
{
    uint32_t *frame;
    __asm volatile("mrs %0, msp" : "=r"(frame));
    hard_hfsr = SCB_HFSR;
    SCB_HFSR = hard_hfsr;
    SCB_CFSR = SCB_CFSR;
    for (int i = 0; i < 32; i++) {
        if ((frame[i] & 0xFFFF0000u) == 0x08000000u && *(uint16_t *)frame[i] == 0xDE01u &&
            (frame[i + 1] & (1u << 24))) {
            frame[i] += 2u;
            break;
        }
    }
}

void TIM1_BRK_IRQHandler(void)
{
    uint32_t lr;
    __asm volatile("mov %0, lr" : "=r"(lr));
    low_lr = lr;
    low_active_bits = NVIC_IABR(IRQ_LOW / 32u);
    record(1);
    pend_irq(IRQ_HIGH); /* higher priority: preempts at once */
    record(3);
    /* Clobber caller-saved FP registers: the thread's values come back from
     * the extended frame. */
    float a = irq_float;
    __asm volatile("vmov.f32 s0, #1.0\n vmov.f32 s1, #2.0\n vmov.f32 s15, #3.0" ::: "s0", "s1", "s15");
    irq_float = a + 1.0f;
}

void TIM8_BRK_IRQHandler(void)
{
    record(2);
}

void TIM1_TRG_COM_IRQHandler(void)
{
    record(4);
}

static void relocated_handler(void)
{
    relocated_hits++;
}

static float thread_fp_check(void)
{
    float x = 1.5f;
    float y = 2.25f;
    __asm volatile("vmov.f32 s0, %0\n vmov.f32 s1, %1" ::"t"(x), "t"(y) : "s0", "s1");
    pend_irq(IRQ_LOW);
    __asm volatile("dsb\n isb");
    float r0, r1;
    __asm volatile("vmov.f32 %0, s0\n vmov.f32 %1, s1" : "=t"(r0), "=t"(r1));
    return r0 + r1;
}

int main(void)
{
    console_init();

    /* SVC with arguments and a result in R0. */
    register uint32_t r0 __asm("r0") = 5;
    register uint32_t r1 __asm("r1") = 7;
    __asm volatile("svc #3" : "+r"(r0) : "r"(r1) : "memory");
    console_kv("svc_result", r0);

    /* UDF with UsageFault enabled, then disabled (escalates to HardFault). */
    SCB_SHCSR |= 1u << 18;
    __asm volatile("udf #1");
    console_puts("usagefault_cfsr=");
    console_puthex(usage_cfsr);
    console_putc('\n');
    SCB_SHCSR &= ~(1u << 18);
    __asm volatile("udf #1");
    console_puts("hardfault_hfsr=");
    console_puthex(hard_hfsr);
    console_putc('\n');

    /* Nested preemption: the low-priority handler pends a higher one. The
     * FP extended frame keeps the thread's S0/S1 across the handler. */
    enable_irq(IRQ_LOW, 0x80);
    enable_irq(IRQ_HIGH, 0x40);
    enable_irq(IRQ_THIRD, 0xC0);
    float sum = thread_fp_check();
    console_kv("fp_preserved", sum == 3.75f);
    console_kv("irq_float", (uint32_t)irq_float);
    console_puts("low_exc_return=");
    console_puthex(low_lr);
    console_putc('\n');
    console_kv("low_active_bit", (low_active_bits >> (IRQ_LOW % 32u)) & 1u);
    console_kv("order", order[0] * 100u + order[1] * 10u + order[2]);

    /* Tail-chaining: pend three while masked; unmask runs them by priority. */
    order_count = 0;
    __asm volatile("cpsid i");
    pend_irq(IRQ_THIRD);
    pend_irq(IRQ_HIGH);
    uint32_t pending_view = NVIC_ISPR(IRQ_HIGH / 32u);
    __asm volatile("cpsie i\n isb");
    uint32_t count_after_unmask = order_count;
    console_kv("ispr_view", (pending_view >> (IRQ_HIGH % 32u)) & 1u);
    console_kv("tail_chain_order", order[0] * 10u + order[1]);
    console_kv("unmask_latency_ok", count_after_unmask == 2u);

    /* BASEPRI 0x80 masks the priority-0xC0 IRQ until BASEPRI returns to 0. */
    order_count = 0;
    __asm volatile("msr basepri, %0" ::"r"(0x80u));
    pend_irq(IRQ_THIRD); /* priority 0xC0: masked */
    __asm volatile("dsb\n isb");
    uint32_t masked = order_count;
    __asm volatile("msr basepri, %0\n isb" ::"r"(0u));
    uint32_t unmasked = order_count;
    console_kv("basepri_masked", masked == 0u);
    console_kv("basepri_unmasked", unmasked == 1u);

    /* STIR: software trigger, taken before the next few instructions. */
    order_count = 0;
    NVIC_STIR = IRQ_THIRD;
    __asm volatile("dsb\n isb");
    console_kv("stir_latency_ok", order_count == 1u);

    /* Priority registers implement 4 bits; ITNS reads zero from non-secure. */
    NVIC_IPR8(IRQ_THIRD) = 0xFF;
    console_puts("ipr_readback=");
    console_puthex(NVIC_IPR8(IRQ_THIRD));
    console_putc('\n');
    console_kv("itns", NVIC_ITNS(1));
    console_puts("aircr=");
    console_puthex(SCB_AIRCR);
    console_putc('\n');

    /* Unprivileged Thread mode: MSR BASEPRI is ignored there, SVC #2 restores
     * privilege from Handler mode. */
    __asm volatile("msr control, %0\n isb" ::"r"(1u));
    __asm volatile("msr basepri, %0" ::"r"(0x40u));
    uint32_t basepri;
    __asm volatile("mrs %0, basepri" : "=r"(basepri));
    __asm volatile("svc #2" ::: "memory");
    uint32_t control;
    __asm volatile("mrs %0, control" : "=r"(control));
    console_kv("unpriv_basepri_ignored", basepri == 0u);
    console_kv("svc_saw_npriv", svc_control & 1u);
    console_kv("control_after", control & 3u);

    /* VTOR: copy the table to SRAM, replace TIM1_TRG_COM and trigger it. */
    memcpy(ram_vectors, (const void *)0x08000000u, sizeof(ram_vectors));
    ram_vectors[16 + IRQ_THIRD] = (uint32_t)relocated_handler;
    SCB_VTOR = (uint32_t)ram_vectors;
    __asm volatile("dsb\n isb");
    NVIC_IPR8(IRQ_THIRD) = 0xC0;
    pend_irq(IRQ_THIRD);
    __asm volatile("dsb\n isb");
    SCB_VTOR = 0x08000000u;
    console_kv("vtor_relocated", relocated_hits);

    /* SysTick COUNTFLAG sets on wrap and clears on read. */
    SYST_RVR = 999u;
    SYST_CVR = 0;
    SYST_CSR = 0x5u; /* ENABLE, CLKSOURCE, no interrupt */
    for (volatile int i = 0; i < 2000; i++) {
    }
    uint32_t first = SYST_CSR;
    uint32_t second = SYST_CSR;
    SYST_CSR = 0;
    console_kv("countflag_set", (first >> 16) & 1u);
    console_kv("countflag_cleared", ((second >> 16) & 1u) == 0u);

    console_puts("exceptions done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
