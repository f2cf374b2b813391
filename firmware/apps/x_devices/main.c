/* Hostile use of the newest device features: fast interrupts, traps, the
 * system control space, WFE and the RTC. Input pins PC0-PC2, driven by the
 * host, pick the group:
 *
 *   0  fast TIM6 interrupt every 0.5 ms (the microvisor's sampling period)
 *      whose handler runs for most of the period and returns each time.
 *   1  CCR.DIV_0_TRP with code rewritten in place in SRAM.
 *   2  CCR.UNALIGN_TRP armed and disarmed around every access, 200 times.
 *   3  unprivileged loads and stores across the whole SCS page, then STIR
 *      with and without CCR.USERSETMPEND.
 *   4  WFE and SEV loops, then WFE woken by a TIM6 interrupt.
 *   5  RTC register garbage, then the wake-up timer at its shortest period.
 *   6  deep sleep at every boot, woken by the shortest wake-up timer.
 *
 * Results go to USART2 as "key=value" lines. Each group ends with "done=1".
 * Fault handlers count the fault, skip the faulting instruction and return. */

#include <stdint.h>

#include "bm_io.h"
#include "mv_syscalls.h"

#define SCB_VTOR   REG32(0xE000ED08u)
#define SCB_CCR    REG32(0xE000ED14u)
#define SCB_BFAR   REG32(0xE000ED38u)
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define GPIOC_IDR  REG32(0x42020810u)

#define RTC_IRQN   2u

#define RTC_BASE   0x46007800u
#define RTC_ICSR   REG32(RTC_BASE + 0x0Cu)
#define RTC_WUTR   REG32(RTC_BASE + 0x14u)
#define RTC_CR     REG32(RTC_BASE + 0x18u)
#define RTC_WPR    REG32(RTC_BASE + 0x24u)
#define RTC_SR     REG32(RTC_BASE + 0x50u)
#define RTC_SCR    REG32(RTC_BASE + 0x5Cu)
#define RTC_CR_WUTE  (1u << 10)
#define RTC_CR_WUTIE (1u << 14)

#define PWR_DBPR          0x46020828u
#define RCC_APB1ENR1_ADDR 0x46020C9Cu
#define RCC_AHB2ENR1_ADDR 0x46020C8Cu
#define RCC_APB3ENR_ADDR  0x46020CA8u

#define CCR_USERSETMPEND  (1u << 1)
#define CCR_UNALIGN_TRP   (1u << 3)
#define CCR_DIV_0_TRP     (1u << 4)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)
#define CFSR_DIVBYZERO    (1u << 25)
#define CFSR_UNALIGNED    (1u << 24)
#define CFSR_PRECISERR    (1u << 9)

static volatile uint32_t fault_count;
static volatile uint32_t fault_cfsr;
static volatile uint32_t fault_bfar;
static volatile uint32_t bad_bfar;
static volatile uint32_t irq_count;
static volatile uint32_t rtc_count;
static volatile uint32_t fast_spin;

/* Called from the fault entries with the stacked frame: skips the instruction. */
void fault_record(uint32_t *frame)
{
    fault_count++;
    fault_cfsr |= SCB_CFSR;
    fault_bfar = SCB_BFAR;
    uint16_t first = *(volatile uint16_t *)frame[6];
    frame[6] += (first >> 11) >= 0x1Du ? 4u : 2u;
    SCB_CFSR = SCB_CFSR;
}

BM_FRAME_HANDLER(HardFault_Handler, fault_record)
BM_FRAME_HANDLER(BusFault_Handler, fault_record)
BM_FRAME_HANDLER(UsageFault_Handler, fault_record)

/* SVC: back to privileged Thread mode. */
void SVC_Handler(void)
{
    uint32_t control;
    __asm volatile("mrs %0, control" : "=r"(control));
    __asm volatile("msr control, %0\n isb" ::"r"(control & ~1u));
}

void TIM6_IRQHandler(void)
{
    TIM_SR(TIM6_BASE) = 0;
    irq_count++;
    for (uint32_t i = 0; i < fast_spin; i++) {
        __asm volatile("nop");
    }
}

void TIM7_IRQHandler(void)
{
    irq_count++;
}

void RTC_IRQHandler(void)
{
    RTC_SCR = RTC_SR;
    rtc_count++;
}

static void enable_irq(uint32_t irqn)
{
    NVIC_ISER(irqn / 32u) = 1u << (irqn % 32u);
}

/* TIM6 is a 16-bit timer: the period is (prescaler + 1) x (reload + 1) cycles. */
static void start_tim6(uint32_t prescaler, uint32_t reload)
{
    TIM_PSC(TIM6_BASE) = prescaler;
    TIM_ARR(TIM6_BASE) = reload;
    TIM_EGR(TIM6_BASE) = 1u;
    TIM_SR(TIM6_BASE) = 0;
    TIM_DIER(TIM6_BASE) = 1u;
    enable_irq(TIM6_IRQN);
    TIM_CR1(TIM6_BASE) = 1u;
}

static uint32_t now_us(void)
{
    uint64_t micros = 0;
    mvGetMicroseconds(&micros);
    return (uint32_t)micros;
}

/* Group 0: a fast handler busy for 3/4 of each 0.5 ms period, returning each time. */
static void group_fast_at_sample_period(void)
{
    fast_spin = 10000u; /* about 60000 of the period's 80000 cycles */
    console_kv("set", mvSetFastInterrupt(TIM6_IRQN));
    start_tim6(1u, 39999u); /* 80000 cycles */
    console_kv("enable", mvEnableFastInterrupt(TIM6_IRQN));
    for (;;) {
        __asm volatile("wfi");
        if (irq_count == 200u) {
            console_kv("handled", irq_count);
            console_kv("us", now_us());
            console_kv("done", 1u);
        }
    }
}

/* Group 1: a division written over code that already ran from the same address. */
typedef uint32_t (*divide_t)(uint32_t dividend, uint32_t divisor);
static uint16_t ram_code[8] __attribute__((aligned(4)));

static divide_t place(const uint16_t *halves, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        ram_code[i] = halves[i];
    }
    __asm volatile("dsb\n isb" ::: "memory");
    return (divide_t)((uint32_t)ram_code | 1u);
}

static void group_rewritten_division(void)
{
    static const uint16_t no_division[] = {0x2007u, 0x4770u};          /* MOVS r0, #7; BX LR */
    static const uint16_t udiv[] = {0xFBB0u, 0xF0F1u, 0x4770u};       /* UDIV r0, r0, r1; BX LR */
    static const uint16_t sdiv_later[] = {0x2200u, 0xFB90u, 0xF0F1u, 0x4770u}; /* MOVS; SDIV; BX */

    SCB_SHCSR |= SHCSR_USGFAULTENA;
    SCB_CCR |= CCR_DIV_0_TRP;
    console_kv("plain", place(no_division, 2)(10u, 0u));
    console_kv("plain_faults", fault_count);
    console_kv("rewritten", place(udiv, 3)(10u, 0u));
    console_kv("rewritten_faults", fault_count);
    fault_count = 0;
    uint32_t expected = 0;
    for (uint32_t round = 0; round < 40u; round++) {
        if (round % 2u) {
            place(no_division, 2)(1u, 0u);
        } else {
            place(round % 4u ? sdiv_later : udiv, round % 4u ? 4u : 3u)(1u, 0u);
            expected++;
        }
    }
    console_kv("rounds_expected", expected);
    console_kv("rounds_faults", fault_count);
    console_kv("cfsr_divbyzero", (fault_cfsr & CFSR_DIVBYZERO) != 0u);
    console_kv("done", 1u);
}

/* Group 2: UNALIGN_TRP armed before and disarmed after each access. */
static uint8_t bytes[16] __attribute__((aligned(8)));

static void group_unaligned_toggle(void)
{
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    volatile uint32_t *unaligned = (volatile uint32_t *)(void *)&bytes[1];
    uint32_t sum = 0;
    for (uint32_t round = 0; round < 200u; round++) {
        SCB_CCR |= CCR_UNALIGN_TRP;
        sum += *unaligned;
        SCB_CCR &= ~CCR_UNALIGN_TRP;
        sum += *unaligned;
    }
    console_kv("faults", fault_count);
    console_kv("unaligned_cfsr", (fault_cfsr & CFSR_UNALIGNED) != 0u);
    console_kv("sum_nonzero", sum != 0u || bytes[1] == 0u);
    console_kv("done", 1u);
}

/* Group 3: the SCS page from unprivileged Thread mode. */
__attribute__((noinline)) static void unprivileged_sweep(uint32_t write)
{
    __asm volatile("msr control, %0\n isb" ::"r"(1u));
    for (uint32_t address = 0xE000E000u; address < 0xE000F000u; address += 4u) {
        uint32_t before = fault_count;
        if (write) {
            __asm volatile("str.w %0, [%1]" ::"r"(0xFFFFFFFFu), "r"(address) : "memory");
        } else {
            uint32_t value;
            __asm volatile("ldr.w %0, [%1]" : "=r"(value) : "r"(address) : "memory");
        }
        if (fault_count != before + 1u || fault_bfar != address) {
            bad_bfar++;
        }
    }
    __asm volatile("svc #0" ::: "memory");
}

__attribute__((noinline)) static void unprivileged_stir(uint32_t irqn)
{
    __asm volatile("msr control, %0\n isb" ::"r"(1u));
    __asm volatile("str.w %0, [%1]\n dsb\n isb" ::"r"(irqn), "r"(0xE000EF00u) : "memory");
    __asm volatile("svc #0" ::: "memory");
}

static void group_scs_page(void)
{
    SCB_SHCSR |= SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    enable_irq(TIM7_IRQN);
    uint32_t vtor = SCB_VTOR;
    uint32_t iser = NVIC_ISER(1);
    uint32_t shcsr = SCB_SHCSR;
    uint32_t ccr = SCB_CCR;

    fault_count = 0;
    unprivileged_sweep(0u);
    console_kv("read_faults", fault_count);
    console_kv("read_mismatches", bad_bfar);
    fault_count = 0;
    bad_bfar = 0;
    unprivileged_sweep(1u);
    console_kv("write_faults", fault_count);
    console_kv("write_mismatches", bad_bfar);
    console_kv("cfsr_preciserr", (fault_cfsr & CFSR_PRECISERR) != 0u);
    console_kv("vtor_kept", SCB_VTOR == vtor);
    console_kv("iser_kept", NVIC_ISER(1) == iser);
    console_kv("shcsr_kept", SCB_SHCSR == shcsr);
    console_kv("ccr_kept", SCB_CCR == ccr);

    fault_count = 0;
    unprivileged_stir(TIM7_IRQN);
    console_kv("stir_denied_faults", fault_count);
    console_kv("stir_denied_irqs", irq_count);
    SCB_CCR |= CCR_USERSETMPEND;
    fault_count = 0;
    unprivileged_stir(TIM7_IRQN);
    console_kv("stir_allowed_faults", fault_count);
    console_kv("stir_allowed_irqs", irq_count);
    unprivileged_stir(0x1FFu); /* INTID past the last IRQ */
    unprivileged_stir(0xFFFFFFFFu);
    console_kv("stir_invalid_faults", fault_count);
    console_kv("stir_invalid_irqs", irq_count);
    console_kv("done", 1u);
}

/* Group 4: WFE and SEV loops. */
static void group_wfe_loops(void)
{
    uint32_t start = now_us();
    for (uint32_t round = 0; round < 10000u; round++) {
        __asm volatile("sev\n wfe\n sev\n wfe" ::: "memory");
    }
    console_kv("sev_wfe_us", now_us() - start);

    mvPeriphPoke32(RCC_APB1ENR1_ADDR, 0, 1u << 4); /* TIM6EN */
    fast_spin = 0;
    start_tim6(3u, 39999u); /* 160000 cycles: 1 ms */
    start = now_us();
    while (irq_count < 100u) {
        __asm volatile("wfe" ::: "memory");
    }
    TIM_CR1(TIM6_BASE) = 0;
    console_kv("wfe_irqs", irq_count);
    console_kv("wfe_us", now_us() - start);
    console_kv("done", 1u);
    __asm volatile("cpsid i" ::: "memory");
    for (;;) {
        __asm volatile("wfe" ::: "memory"); /* nothing can wake it */
    }
}

/* Group 5: RTC register garbage, then the shortest wake-up period. */
static void rtc_unlock(void)
{
    mvPeriphPoke32(RCC_APB3ENR_ADDR, 0, 1u << 21); /* RTCAPBEN */
    mvPeriphPoke32(PWR_DBPR, 0, 1u);
    RTC_WPR = 0xCAu;
    RTC_WPR = 0x53u;
}

static void group_rtc_garbage(void)
{
    rtc_unlock();
    uint32_t seed = 0x12345678u;
    uint32_t sum = 0;
    for (uint32_t pass = 0; pass < 4u; pass++) {
        for (uint32_t offset = 0; offset < 0x400u; offset += 4u) {
            seed = seed * 1664525u + 1013904223u;
            if (offset == 0x24u) {
                continue; /* keep WPR unlocked */
            }
            REG32(RTC_BASE + offset) = seed;
            sum += REG32(RTC_BASE + offset);
        }
    }
    console_kv("garbage_sum_read", sum != 1u);
    RTC_ICSR = 0; /* leave init mode if the garbage entered it */
    RTC_CR = 0;
    while (!(RTC_ICSR & (1u << 2))) {
    }
    RTC_WUTR = 0; /* 16 RTCCLK ticks: 488 us */
    RTC_SCR = 0x7Fu;
    RTC_CR = RTC_CR_WUTE | RTC_CR_WUTIE;
    enable_irq(RTC_IRQN);
    uint32_t start = now_us();
    while (rtc_count < 200u) {
        __asm volatile("wfi");
    }
    console_kv("wakeups", rtc_count);
    console_kv("wakeup_us", now_us() - start);
    console_kv("done", 1u);
    for (;;) {
        __asm volatile("wfi");
    }
}

/* Group 6: deep sleep again at every boot, with a 488 us wake-up timer. */
static void group_deep_sleep_loop(void)
{
    enum MvWakeReason reason = MV_WAKEREASON_COLDBOOT;
    mvGetWakeReason(&reason);
    console_kv("reason", reason);
    rtc_unlock();
    RTC_CR = 0;
    while (!(RTC_ICSR & (1u << 2))) {
    }
    RTC_WUTR = 0;
    RTC_SCR = 0x7Fu;
    RTC_CR = RTC_CR_WUTE | RTC_CR_WUTIE;
    console_kv("sleep", mvDeepSleep(MV_DEEPSLEEPMODE_STANDBY));
    for (;;) {
        __asm volatile("wfi");
    }
}

int main(void)
{
    mvPeriphPoke32(RCC_APB1ENR1_ADDR, 0, (1u << 17) | (1u << 4) | (1u << 5)); /* USART2, TIM6, TIM7 */
    mvPeriphPoke32(RCC_AHB2ENR1_ADDR, 0, 1u << 2);                          /* GPIOC */
    USART_BRR(USART2_BASE) = 160000000u / 115200u;
    USART_CR1(USART2_BASE) = (1u << 3) | (1u << 0);
    uint32_t group = GPIOC_IDR & 7u;
    console_kv("group", group);
    switch (group) {
    case 0:
        group_fast_at_sample_period();
        break;
    case 1:
        group_rewritten_division();
        break;
    case 2:
        group_unaligned_toggle();
        break;
    case 3:
        group_scs_page();
        break;
    case 4:
        group_wfe_loops();
        break;
    case 5:
        group_rtc_garbage();
        break;
    case 6:
        group_deep_sleep_loop();
        break;
    default:
        break;
    }
    for (;;) {
        __asm volatile("wfi");
    }
}
