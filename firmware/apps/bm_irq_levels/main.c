/* Level-sensitive peripheral interrupt lines. Each check prints
 * "name=value" lines, and the image ends with "levels done":
 *
 *   tim6_*   TIM6 in one-pulse mode updates once. Its handler clears SR.UIF
 *            only on every second entry, so one update enters it twice.
 *   exti_*   EXTI0 triggered through SWIER1. Its handler clears RPR1 only
 *            on the third entry.
 *   uie_*    TIM7 SR.UIF set by EGR.UG while DIER.UIE is clear, then
 *            DIER.UIE set: the interrupt becomes pending at that write.
 *   icpr_*   ICPR cannot clear EXTI1 while the line is asserted. */

#include "bm_io.h"

#define TIM_CR1_CEN (1u << 0)
#define TIM_CR1_OPM (1u << 3)

#define EXTI_BASE   0x46022000u
#define EXTI_SWIER1 REG32(EXTI_BASE + 0x08u)
#define EXTI_RPR1   REG32(EXTI_BASE + 0x0Cu)
#define EXTI_IMR1   REG32(EXTI_BASE + 0x80u)

#define NVIC_ICER(n) REG32(0xE000E180u + 4u * (n))
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))

#define EXTI0_IRQN 11u
#define EXTI1_IRQN 12u

static volatile uint32_t tim6_entries;
static volatile uint32_t tim6_pending_in_handler;
static volatile uint32_t exti_entries;
static volatile uint32_t tim7_entries;

static uint32_t irq_pending(uint32_t irqn)
{
    return (NVIC_ISPR(irqn / 32u) >> (irqn % 32u)) & 1u;
}

static void irq_enable(uint32_t irqn)
{
    NVIC_ISER(irqn / 32u) = 1u << (irqn % 32u);
}

static void print_value(const char *name, uint32_t value)
{
    console_puts(name);
    console_putc('=');
    console_putu(value);
    console_putc('\n');
}

void IRQ49_Handler(void)
{
    tim6_entries++;
    if (tim6_entries == 1u) {
        tim6_pending_in_handler = irq_pending(TIM6_IRQN);
    }
    if (tim6_entries % 2u == 0u) {
        TIM_SR(TIM6_BASE) = 0;
    }
}

void IRQ11_Handler(void)
{
    exti_entries++;
    if (exti_entries == 3u) {
        EXTI_RPR1 = 1u << 0;
    }
}

void IRQ50_Handler(void)
{
    tim7_entries++;
    TIM_SR(TIM7_BASE) = 0;
}

static void check_timer_handler_reentry(void)
{
    TIM_PSC(TIM6_BASE) = 0;
    TIM_ARR(TIM6_BASE) = 200;
    TIM_DIER(TIM6_BASE) = 1;
    irq_enable(TIM6_IRQN);
    TIM_CR1(TIM6_BASE) = TIM_CR1_OPM | TIM_CR1_CEN;
    while (TIM_CR1(TIM6_BASE) & TIM_CR1_CEN) {
    }
    for (volatile int i = 0; i < 100; i++) {
    }
    print_value("tim6_entries", tim6_entries);
    print_value("tim6_pending_in_handler", tim6_pending_in_handler);
    print_value("tim6_pending_after", irq_pending(TIM6_IRQN));
    print_value("tim6_uif_after", TIM_SR(TIM6_BASE) & 1u);
}

static void check_exti_left_pending(void)
{
    EXTI_IMR1 |= 1u << 0;
    irq_enable(EXTI0_IRQN);
    EXTI_SWIER1 = 1u << 0;
    __asm volatile("dsb\n isb");
    print_value("exti_entries", exti_entries);
    print_value("exti_rpr_after", EXTI_RPR1 & 1u);
    print_value("exti_pending_after", irq_pending(EXTI0_IRQN));
}

static void check_enable_after_flag(void)
{
    TIM_DIER(TIM7_BASE) = 0;
    TIM_EGR(TIM7_BASE) = 1; /* UG: an update event sets SR.UIF */
    print_value("uie_uif", TIM_SR(TIM7_BASE) & 1u);
    print_value("uie_pending_before", irq_pending(TIM7_IRQN));
    TIM_DIER(TIM7_BASE) = 1;
    print_value("uie_pending_after", irq_pending(TIM7_IRQN));
    print_value("uie_entries_disabled", tim7_entries);
    irq_enable(TIM7_IRQN);
    __asm volatile("dsb\n isb");
    print_value("uie_entries", tim7_entries);
    print_value("uie_pending_end", irq_pending(TIM7_IRQN));
}

static void check_icpr_while_asserted(void)
{
    NVIC_ICER(EXTI1_IRQN / 32u) = 1u << (EXTI1_IRQN % 32u);
    EXTI_IMR1 |= 1u << 1;
    EXTI_SWIER1 = 1u << 1;
    NVIC_ICPR(EXTI1_IRQN / 32u) = 1u << (EXTI1_IRQN % 32u);
    print_value("icpr_asserted", irq_pending(EXTI1_IRQN));
    EXTI_RPR1 = 1u << 1;
    NVIC_ICPR(EXTI1_IRQN / 32u) = 1u << (EXTI1_IRQN % 32u);
    print_value("icpr_released", irq_pending(EXTI1_IRQN));
}

int main(void)
{
    console_init();
    RCC_APB1ENR1 |= (1u << 4) | (1u << 5); /* TIM6EN, TIM7EN */
    check_timer_handler_reentry();
    check_exti_left_pending();
    check_enable_after_flag();
    check_icpr_while_asserted();
    console_puts("levels done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
