/* Peripheral interrupts driven from firmware, each check printing "name=value"
 * console lines:
 *
 * - TIM7 update interrupt (IRQ 50): PSC 15, ARR 999, so one update every
 *   16000 cycles once the preloaded PSC applies at the first update. The
 *   handler toggles PA5, so the host measures the period from GPIO event cycles.
 * - TIM2 update interrupt (IRQ 45) with a 32-bit ARR of 100000: one update
 *   every 100001 cycles; the handler toggles PA6.
 * - ICSR.PENDSTSET with PRIMASK set: ICSR reads back PENDSTSET and
 *   VECTPENDING = 15, and the SysTick handler runs once PRIMASK is cleared,
 *   although the SysTick counter stays disabled.
 * - USART2 transmit by interrupt: TXEIE sends one line byte by byte, then
 *   TCIE reports the end of the transfer.
 * - USART2 receive by polling RXNE, then by RXNEIE interrupt. Before each,
 *   the image prints "rx poll ready" or "rx irq ready" and waits for the host
 *   to inject a line ending in '\n'.
 *
 * Ends with "periph done". */

#include "bm_io.h"

#define TIM2_BASE 0x40000000u
#define TIM2_IRQN 45u
#define USART2_IRQN 62u

#define USART_RDR(b)    REG32((b) + 0x24u)
#define USART_CR1_UE    (1u << 0)
#define USART_CR1_RE    (1u << 2)
#define USART_CR1_TE    (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_TCIE  (1u << 6)
#define USART_CR1_TXEIE (1u << 7)
#define USART_ISR_RXNE  (1u << 5)

#define ICSR_PENDSTSET (1u << 26)
#define ICSR_VECTPENDING(v) (((v) >> 12) & 0x1FFu)

#define TIM7_UPDATES 5u
#define TIM2_UPDATES 3u

static volatile uint32_t tim7_updates;
static volatile uint32_t tim2_updates;
static volatile uint32_t systick_runs;

static const char tx_message[] = "sent by txeie\n";
static volatile uint32_t tx_position;
static volatile uint32_t txe_entries;
static volatile uint32_t tc_entries;
static volatile uint32_t tx_done;

static volatile char rx_line[32];
static volatile uint32_t rx_length;
static volatile uint32_t rx_entries;
static volatile uint32_t rx_done;

static void enable_irq(uint32_t irq)
{
    NVIC_ISER(irq / 32u) = 1u << (irq % 32u);
}

static void toggle(uint32_t pin, uint32_t count)
{
    GPIO_BSRR(GPIOA_BASE) = (count & 1u) ? 1u << pin : 1u << (pin + 16u);
}

void TIM7_IRQHandler(void)
{
    TIM_SR(TIM7_BASE) = 0; /* clear UIF */
    tim7_updates++;
    toggle(5, tim7_updates);
    if (tim7_updates == TIM7_UPDATES) {
        TIM_CR1(TIM7_BASE) = 0;
    }
}

void TIM2_IRQHandler(void)
{
    TIM_SR(TIM2_BASE) = 0;
    tim2_updates++;
    toggle(6, tim2_updates);
    if (tim2_updates == TIM2_UPDATES) {
        TIM_CR1(TIM2_BASE) = 0;
    }
}

void SysTick_Handler(void)
{
    systick_runs++;
}

void USART2_IRQHandler(void)
{
    uint32_t isr = USART_ISR(USART2_BASE);
    uint32_t cr1 = USART_CR1(USART2_BASE);
    /* One received byte per entry: the count shows the interrupt pends again
     * while bytes remain. */
    if ((cr1 & USART_CR1_RXNEIE) && (isr & USART_ISR_RXNE)) {
        char byte = (char)USART_RDR(USART2_BASE);
        rx_entries++;
        if (rx_length < sizeof(rx_line) - 1u) {
            rx_line[rx_length++] = byte;
        }
        if (byte == '\n') {
            rx_done = 1;
        }
    }
    if ((cr1 & USART_CR1_TXEIE) && (isr & USART_ISR_TXE)) {
        txe_entries++;
        USART_TDR(USART2_BASE) = (uint8_t)tx_message[tx_position++];
        if (tx_message[tx_position] == '\0') {
            USART_CR1(USART2_BASE) = (cr1 & ~USART_CR1_TXEIE) | USART_CR1_TCIE;
        }
    } else if ((cr1 & USART_CR1_TCIE) && (isr & USART_ISR_TC)) {
        tc_entries++;
        USART_CR1(USART2_BASE) = cr1 & ~USART_CR1_TCIE;
        tx_done = 1;
    }
}

static void check_tim7(void)
{
    RCC_APB1ENR1 |= 1u << 5; /* TIM7EN */
    enable_irq(TIM7_IRQN);
    TIM_PSC(TIM7_BASE) = 15;
    TIM_ARR(TIM7_BASE) = 999;
    TIM_DIER(TIM7_BASE) = 1; /* UIE */
    TIM_CR1(TIM7_BASE) = 1;  /* CEN */
    while (tim7_updates < TIM7_UPDATES) {
        __asm volatile("wfi");
    }
    console_kv("tim7_updates", tim7_updates);
}

static void check_tim2(void)
{
    RCC_APB1ENR1 |= 1u << 0; /* TIM2EN */
    enable_irq(TIM2_IRQN);
    TIM_PSC(TIM2_BASE) = 0;
    TIM_ARR(TIM2_BASE) = 100000u;
    TIM_DIER(TIM2_BASE) = 1;
    TIM_CR1(TIM2_BASE) = 1;
    /* A 16-bit counter would never pass 0xFFFF before the first update. */
    uint32_t highest = 0;
    while (tim2_updates == 0) {
        uint32_t count = TIM_CNT(TIM2_BASE);
        if (count > highest) {
            highest = count;
        }
    }
    while (tim2_updates < TIM2_UPDATES) {
        __asm volatile("wfi");
    }
    console_kv("tim2_updates", tim2_updates);
    console_kv("tim2_arr", TIM_ARR(TIM2_BASE));
    console_kv("tim2_cnt_above_16_bits", highest > 0xFFFFu);
}

static void check_pendstset(void)
{
    SYST_CSR = 0; /* the SysTick counter stays off, so only PENDSTSET can take the handler */
    __asm volatile("cpsid i");
    SCB_ICSR = ICSR_PENDSTSET;
    uint32_t pending = SCB_ICSR;
    uint32_t runs_masked = systick_runs;
    __asm volatile("cpsie i\n isb");
    uint32_t after = SCB_ICSR;
    console_kv("pendst_set", (pending & ICSR_PENDSTSET) != 0);
    console_kv("pendst_vectpending", ICSR_VECTPENDING(pending));
    console_kv("pendst_runs_masked", runs_masked);
    console_kv("pendst_runs", systick_runs);
    console_kv("pendst_set_after", (after & ICSR_PENDSTSET) != 0);
}

static void check_tx_interrupts(void)
{
    enable_irq(USART2_IRQN);
    USART_CR1(USART2_BASE) |= USART_CR1_TXEIE;
    while (!tx_done) {
        __asm volatile("wfi");
    }
    console_kv("txe_irqs", txe_entries);
    console_kv("tc_irqs", tc_entries);
}

static void print_line(const char *key, const volatile char *text, uint32_t length)
{
    console_puts(key);
    console_putc('=');
    for (uint32_t i = 0; i < length; i++) {
        if (text[i] != '\n') {
            console_putc(text[i]);
        }
    }
    console_putc('\n');
}

static void check_rx_polling(void)
{
    char line[32];
    uint32_t length = 0;
    USART_CR1(USART2_BASE) |= USART_CR1_RE;
    console_puts("rx poll ready\n");
    for (;;) {
        while (!(USART_ISR(USART2_BASE) & USART_ISR_RXNE)) {
        }
        char byte = (char)USART_RDR(USART2_BASE);
        if (length < sizeof(line)) {
            line[length++] = byte;
        }
        if (byte == '\n') {
            break;
        }
    }
    print_line("rx_poll", line, length);
}

static void check_rx_interrupt(void)
{
    USART_CR1(USART2_BASE) |= USART_CR1_RXNEIE;
    console_puts("rx irq ready\n");
    while (!rx_done) {
        __asm volatile("wfi");
    }
    USART_CR1(USART2_BASE) &= ~USART_CR1_RXNEIE;
    print_line("rx_irq", rx_line, rx_length);
    console_kv("rx_irq_entries", rx_entries);
}

int main(void)
{
    console_init();
    RCC_AHB2ENR1 |= 1u; /* GPIOAEN */
    GPIO_MODER(GPIOA_BASE) = (GPIO_MODER(GPIOA_BASE) & ~(0xFu << 10)) | (0x5u << 10);
    check_tim7();
    check_tim2();
    check_pendstset();
    check_tx_interrupts();
    check_rx_polling();
    check_rx_interrupt();
    console_puts("periph done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
