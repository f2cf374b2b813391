/* RTC test application: sets the RTC up with the register steps of
 * STM32CubeU5's HAL_RTC_Init and HAL_RTCEx_SetWakeUpTimer_IT (the calendar
 * check, write protection, init mode, RSF and WUTWF polling), with RCC and
 * PWR reached through mvPeriphPoke32. It sets the time and alarm A in init
 * mode and with ALRAE clear, then sleeps on the wake-up timer and alarm A.
 *
 * SRAM does not survive deep sleep, so the scenario comes from input pins
 * PC0-PC1, which the host drives:
 *   0: wake-up timer every 1 s (RTCCLK/16) in mvPowerSave(STOP2), three
 *      interrupts, then STANDBY with a 5 s wake-up (ck_spre).
 *   1: calendar set to 2024-06-01 12:00:00, alarm A at second 10 in power
 *      save, then STANDBY until alarm A at second 30.
 *   2: a 100 s wake-up timer, then STANDBY (the check-in period is shorter).
 *   3: a 2 s wake-up timer, then SHUTDOWN.
 * A boot that finds the wake-up timer or alarm A already enabled is a wake
 * from deep sleep: it prints what survived and stops. Every line goes to
 * USART2 as "key=value" pairs the tests parse. */

#include <stdint.h>

#include "bm_io.h"
#include "mv_syscalls.h"

#define RTC_BASE      0x46007800u
#define RTC_TR        REG32(RTC_BASE + 0x00u)
#define RTC_DR        REG32(RTC_BASE + 0x04u)
#define RTC_ICSR      REG32(RTC_BASE + 0x0Cu)
#define RTC_PRER      REG32(RTC_BASE + 0x10u)
#define RTC_WUTR      REG32(RTC_BASE + 0x14u)
#define RTC_CR        REG32(RTC_BASE + 0x18u)
#define RTC_WPR       REG32(RTC_BASE + 0x24u)
#define RTC_ALRMAR    REG32(RTC_BASE + 0x40u)
#define RTC_ALRMASSR  REG32(RTC_BASE + 0x44u)
#define RTC_SR        REG32(RTC_BASE + 0x50u)
#define RTC_SCR       REG32(RTC_BASE + 0x5Cu)

#define ICSR_WUTWF (1u << 2)
#define ICSR_INITS (1u << 4)
#define ICSR_RSF   (1u << 5)
#define ICSR_INITF (1u << 6)
#define ICSR_INIT  (1u << 7)
#define CR_WUCKSEL 0x7u
#define CR_FMT     (1u << 6)
#define CR_ALRAE   (1u << 8)
#define CR_WUTE    (1u << 10)
#define CR_ALRAIE  (1u << 12)
#define CR_WUTIE   (1u << 14)
#define CR_POL     (1u << 20)
#define CR_OSEL    (3u << 21)
#define CR_TAMPOE  (1u << 26)
#define SR_ALRAF   (1u << 0)
#define SR_WUTF    (1u << 2)
#define ALRMAR_MSK2 (1u << 15)
#define ALRMAR_MSK3 (1u << 23)
#define ALRMAR_MSK4 (1u << 31)

#define PWR_DBPR      0x46020828u
#define RCC_BDCR      0x46020CF0u
#define RCC_APB3ENR   0x46020CA8u
#define RCC_AHB2ENR1_ADDR 0x46020C8Cu
#define RCC_APB1ENR1_ADDR 0x46020C9Cu
#define GPIOC_IDR     REG32(0x42020810u)
#define RTC_IRQN      2u

static volatile uint32_t wakeup_count;
static volatile uint32_t alarm_count;
static volatile uint32_t last_event_us;

static uint32_t now_us(void)
{
    uint64_t micros = 0;
    mvGetMicroseconds(&micros);
    return (uint32_t)micros;
}

static void print_hex(const char *key, uint32_t value)
{
    console_puts(key);
    console_putc('=');
    console_puthex(value);
}

void RTC_IRQHandler(void)
{
    uint32_t flags = RTC_SR;
    last_event_us = now_us();
    if (flags & SR_WUTF) {
        RTC_SCR = SR_WUTF;
        wakeup_count++;
    }
    if (flags & SR_ALRAF) {
        RTC_SCR = SR_ALRAF;
        alarm_count++;
    }
}

static void console_start(void)
{
    mvPeriphPoke32(RCC_APB1ENR1_ADDR, 0, 1u << 17); /* USART2EN */
    USART_BRR(USART2_BASE) = 160000000u / 115200u;
    USART_CR1(USART2_BASE) = (1u << 3) | (1u << 0); /* TE, UE */
}

static void rtc_unlock(void)
{
    RTC_WPR = 0xCAu;
    RTC_WPR = 0x53u;
}

static void rtc_lock(void)
{
    RTC_WPR = 0xFFu;
}

static void rtc_enter_init(void)
{
    if (!(RTC_ICSR & ICSR_INITF)) {
        RTC_ICSR = ICSR_INIT;
        while (!(RTC_ICSR & ICSR_INITF)) {
        }
    }
}

static void rtc_exit_init(void)
{
    RTC_ICSR &= ~ICSR_INIT;
    RTC_ICSR &= ~ICSR_RSF; /* wait for the shadow registers, as HAL_RTC_WaitForSynchro */
    while (!(RTC_ICSR & ICSR_RSF)) {
    }
}

/* The clock and backup-domain steps of HAL_RTC_MspInit, then HAL_RTC_Init. */
static void rtc_init(void)
{
    uint32_t bdcr = 0;
    mvPeriphPoke32(PWR_DBPR, 0, 1u); /* DBP: backup-domain write access */
    mvPeriphPoke32(RCC_BDCR, 0, 1u); /* LSEON */
    do {
        mvPeriphPeek32(RCC_BDCR, &bdcr);
    } while (!(bdcr & (1u << 1))); /* LSERDY */
    mvPeriphPoke32(RCC_BDCR, 3u << 8, 1u << 8); /* RTCSEL = LSE */
    mvPeriphPoke32(RCC_BDCR, 0, 1u << 15); /* RTCEN */
    mvPeriphPoke32(RCC_APB3ENR, 0, 1u << 21); /* RTCAPBEN */
    if (RTC_ICSR & ICSR_INITS) {
        return; /* calendar already initialized */
    }
    rtc_unlock();
    rtc_enter_init();
    RTC_CR &= ~(CR_FMT | CR_POL | CR_OSEL | CR_TAMPOE);
    RTC_PRER = 255u | (127u << 16); /* 32768 Hz / 128 / 256 = 1 Hz */
    rtc_exit_init();
    rtc_lock();
}

static void rtc_set_time(uint32_t tr, uint32_t dr)
{
    rtc_unlock();
    rtc_enter_init();
    RTC_TR = tr;
    RTC_DR = dr;
    rtc_exit_init();
    rtc_lock();
}

static void rtc_set_wakeup(uint32_t wucksel, uint32_t wut)
{
    rtc_unlock();
    RTC_CR &= ~CR_WUTE;
    RTC_SCR = SR_WUTF;
    if (!(RTC_ICSR & ICSR_INITF)) {
        while (!(RTC_ICSR & ICSR_WUTWF)) {
        }
    }
    RTC_WUTR = wut;
    RTC_CR = (RTC_CR & ~CR_WUCKSEL) | wucksel;
    RTC_CR |= CR_WUTIE | CR_WUTE;
    rtc_lock();
}

static void rtc_set_alarm_a(uint32_t alrmar)
{
    rtc_unlock();
    RTC_CR &= ~(CR_ALRAE | CR_ALRAIE);
    RTC_SCR = SR_ALRAF;
    RTC_ALRMAR = alrmar;
    RTC_ALRMASSR = 0;
    RTC_CR |= CR_ALRAE | CR_ALRAIE;
    rtc_lock();
}

static void print_rtc(void)
{
    print_hex(" cr", RTC_CR);
    console_field(" wutr", RTC_WUTR);
    print_hex(" sr", RTC_SR);
    print_hex(" tr", RTC_TR);
    print_hex(" dr", RTC_DR);
}

static void deep_sleep(enum MvDeepSleepMode mode)
{
    console_puts("sleep");
    console_field(" us", now_us());
    print_rtc();
    console_putc('\n');
    enum MvStatus status = mvDeepSleep(mode);
    console_field("deep sleep failed status", status);
    console_putc('\n');
}

static void wait_events(volatile uint32_t *counter, uint32_t count, const char *name)
{
    uint32_t seen = *counter;
    while (seen < count) {
        mvPowerSave(MV_POWERSAVINGMODE_STOP2);
        __asm volatile("wfi");
        if (*counter != seen) {
            seen = *counter;
            console_puts(name);
            console_field(" n", seen);
            console_field(" us", last_event_us);
            print_hex(" tr", RTC_TR);
            console_putc('\n');
        }
    }
}

int main(void)
{
    enum MvWakeReason reason = MV_WAKEREASON_COLDBOOT;
    mvGetWakeReason(&reason);
    console_start();
    mvPeriphPoke32(RCC_AHB2ENR1_ADDR, 0, 1u << 2); /* GPIOCEN */
    uint32_t scenario = GPIOC_IDR & 3u;

    console_puts("boot");
    console_field(" reason", reason);
    console_field(" scenario", scenario);
    console_field(" us", now_us());
    print_rtc();
    console_putc('\n');

    if (RTC_CR & (CR_WUTE | CR_ALRAE)) {
        console_puts("woken\n");
        for (;;) {
            __asm volatile("wfi");
        }
    }

    rtc_init();
    NVIC_ISER(RTC_IRQN / 32u) = 1u << (RTC_IRQN % 32u);
    switch (scenario) {
    case 0:
        rtc_set_wakeup(0u, 2047u); /* RTCCLK/16 = 2048 Hz: 1 s */
        console_field("armed us", now_us());
        console_putc('\n');
        wait_events(&wakeup_count, 3u, "wakeup");
        rtc_set_wakeup(4u, 4u); /* ck_spre: 5 s */
        deep_sleep(MV_DEEPSLEEPMODE_STANDBY);
        break;
    case 1:
        rtc_set_time(0x00120000u, 0x0024C601u); /* Saturday 2024-06-01 12:00:00 */
        rtc_set_alarm_a(ALRMAR_MSK4 | ALRMAR_MSK3 | ALRMAR_MSK2 | 0x10u);
        console_field("armed us", now_us());
        console_putc('\n');
        wait_events(&alarm_count, 1u, "alarm");
        rtc_set_alarm_a(ALRMAR_MSK4 | ALRMAR_MSK3 | ALRMAR_MSK2 | 0x30u);
        deep_sleep(MV_DEEPSLEEPMODE_STANDBY);
        break;
    case 2:
        rtc_set_wakeup(4u, 99u); /* 100 s */
        deep_sleep(MV_DEEPSLEEPMODE_STANDBY);
        break;
    default:
        rtc_set_wakeup(4u, 1u); /* 2 s */
        deep_sleep(MV_DEEPSLEEPMODE_SHUTDOWN);
        break;
    }
    for (;;) {
        __asm volatile("wfi");
    }
}
