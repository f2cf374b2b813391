/* Preemptive two-thread scheduler: SysTick pends PendSV every 1 ms and
 * PendSV switches threads on PSP. Both threads keep running sums in FPU
 * registers, so a context switch that loses S0-S31 shows up as a wrong sum.
 * Exception frames with FP state use lazy stacking (FPCCR.LSPEN at reset). */

#include "bm_io.h"

#define ITERATIONS 300000u
#define STACK_WORDS 512u

static uint32_t stack_b[STACK_WORDS] __attribute__((aligned(8)));
static uint32_t stack_a[STACK_WORDS] __attribute__((aligned(8)));
static uint32_t saved_sp[2];
static volatile uint32_t current;
volatile uint32_t switches;
volatile uint32_t fp_frames;
static volatile uint32_t done[2];
static volatile float result[2];

void SysTick_Handler(void)
{
    SCB_ICSR = 1u << 28; /* PENDSVSET */
}

/* Called from PendSV with the outgoing thread's stack pointer (after its
 * callee-saved registers) and EXC_RETURN; returns the incoming one's. */
uint32_t switch_context(uint32_t sp, uint32_t exc_return)
{
    if (!(exc_return & 0x10u)) {
        fp_frames++;
    }
    saved_sp[current] = sp;
    current ^= 1u;
    switches++;
    return saved_sp[current];
}

__attribute__((naked)) void PendSV_Handler(void)
{
    __asm volatile(
        "mrs r0, psp\n"
        "tst lr, #0x10\n"
        "it eq\n"
        "vstmdbeq r0!, {s16-s31}\n"
        "stmdb r0!, {r4-r11, lr}\n"
        "mov r1, lr\n"
        "bl switch_context\n"
        "ldmia r0!, {r4-r11, lr}\n"
        "tst lr, #0x10\n"
        "it eq\n"
        "vldmiaeq r0!, {s16-s31}\n"
        "msr psp, r0\n"
        "bx lr\n");
}

static float accumulate(float step, float scale)
{
    float sum = 0.0f;
    float product = 1.0f;
    for (uint32_t i = 0; i < ITERATIONS; i++) {
        sum += step;
        product = product * scale;
        if (product > 1000.0f) {
            product = 1.0f;
        }
    }
    return sum + product;
}

static void thread_b(void)
{
    result[1] = accumulate(0.25f, 1.5f);
    done[1] = 1;
    for (;;) {
        __asm volatile("wfi");
    }
}

static void thread_a(void)
{
    result[0] = accumulate(0.5f, 1.25f);
    done[0] = 1;
    while (!done[1]) {
        __asm volatile("wfi");
    }
    SYST_CSR = 0;
    console_kv("sum_a", (uint32_t)result[0]);
    console_kv("sum_b", (uint32_t)result[1]);
    console_kv("switches_ok", switches > 10u);
    console_kv("fp_frames_ok", fp_frames > 0u);
    console_puts("scheduler done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}

int main(void)
{
    console_init();

    /* Thread B starts from a fake exception frame: hardware part (R0-R3,
     * R12, LR, PC, xPSR) under the software part (R4-R11, EXC_RETURN). */
    uint32_t *sp = &stack_b[STACK_WORDS];
    *--sp = 1u << 24;                 /* xPSR: Thumb */
    *--sp = (uint32_t)thread_b;       /* PC */
    *--sp = 0;                        /* LR */
    for (int i = 0; i < 5; i++) {
        *--sp = 0;                    /* R12, R3-R0 */
    }
    *--sp = 0xFFFFFFBCu;              /* EXC_RETURN: Thread, PSP, no FP frame */
    for (int i = 0; i < 8; i++) {
        *--sp = 0;                    /* R11-R4 */
    }
    saved_sp[1] = (uint32_t)sp;
    current = 0;

    SCB_SHPR3 = (0xF0u << 16) | (0xE0u << 24); /* PendSV lowest, SysTick just above */
    SYST_RVR = 160000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u;

    /* Thread A runs on PSP from here. */
    __asm volatile(
        "msr psp, %0\n"
        "mov r0, #2\n"
        "msr control, r0\n"
        "isb\n" ::"r"(&stack_a[STACK_WORDS])
        : "r0");
    thread_a();
    return 0;
}
