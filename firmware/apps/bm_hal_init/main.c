/* HAL-style initialisation: voltage scaling, flash latency, oscillator and
 * PLL ready polling, SYSCLK computed from RCC the way
 * HAL_RCC_GetSysClockFreq does, USART2 configured from PCLK1 and polled on
 * TXE/TC, TIM6 as the 1 kHz time base for a HAL_Delay-style wait, and RNG
 * and CRC reads. */

#include "bm_io.h"

#define RCC_CR        REG32(RCC_BASE + 0x00u)
#define RCC_CFGR1     REG32(RCC_BASE + 0x1Cu)
#define RCC_CFGR2     REG32(RCC_BASE + 0x20u)
#define RCC_PLL1CFGR  REG32(RCC_BASE + 0x28u)
#define RCC_PLL1DIVR  REG32(RCC_BASE + 0x34u)
#define RCC_PLL1FRACR REG32(RCC_BASE + 0x38u)
#define RCC_AHB2ENR1_ REG32(RCC_BASE + 0x8Cu)
#define RCC_AHB1ENR   REG32(RCC_BASE + 0x88u)
#define PWR_VOSR      REG32(0x4602080Cu)
#define FLASH_ACR     REG32(0x40022000u)
#define RNG_CR        REG32(0x420C0800u)
#define RNG_SR        REG32(0x420C0804u)
#define RNG_DR        REG32(0x420C0808u)
#define CRC_DR        REG32(0x40023000u)
#define CRC_CR        REG32(0x40023008u)

static volatile uint32_t uwTick;
static const uint32_t msi_range_hz[16] = {48000000, 24000000, 16000000, 12000000, 4000000,
                                          2000000,  1330000,  1000000,  3072000,  1536000,
                                          1024000,  768000,   400000,   200000,   133000,
                                          100000};

void TIM6_IRQHandler(void)
{
    if (TIM_SR(TIM6_BASE) & 1u) {
        TIM_SR(TIM6_BASE) = ~1u;
        uwTick++;
    }
}

static uint32_t wait_flag(volatile uint32_t *reg, uint32_t mask)
{
    for (uint32_t spins = 0; spins < 100000u; spins++) {
        if ((*reg & mask) == mask) {
            return 1;
        }
    }
    return 0;
}

/* SYSCLK as HAL_RCC_GetSysClockFreq computes it for the STM32U5. */
static uint32_t get_sysclk(void)
{
    uint32_t sws = (RCC_CFGR1 >> 2) & 3u;
    if (sws == 1u) {
        return 16000000u;
    }
    if (sws != 3u) {
        return msi_range_hz[4];
    }
    uint32_t source = RCC_PLL1CFGR & 3u;
    uint32_t m = ((RCC_PLL1CFGR >> 8) & 0xFu) + 1u;
    uint32_t n = (RCC_PLL1DIVR & 0x1FFu) + 1u;
    uint32_t r = ((RCC_PLL1DIVR >> 24) & 0x7Fu) + 1u;
    uint32_t fracn = (RCC_PLL1CFGR & (1u << 4)) ? ((RCC_PLL1FRACR >> 3) & 0x1FFFu) : 0u;
    float input = source == 2u ? 16000000.0f : (source == 1u ? (float)msi_range_hz[4] : 16000000.0f);
    float vco = (input / (float)m) * ((float)n + (float)fracn / 8192.0f);
    return (uint32_t)(vco / (float)r);
}

static void hal_delay(uint32_t ms)
{
    uint32_t start = uwTick;
    while (uwTick - start < ms + 1u) {
        __asm volatile("wfi");
    }
}

int main(void)
{
    /* Voltage range 1 and its ready flag, as HAL_PWREx_ControlVoltageScaling. */
    PWR_VOSR = (PWR_VOSR & ~(3u << 16)) | (3u << 16);
    uint32_t vos_ready = wait_flag(&PWR_VOSR, 1u << 15);

    FLASH_ACR = (FLASH_ACR & ~0xFu) | 4u;
    uint32_t latency = FLASH_ACR & 0xFu;

    RCC_CR |= 1u << 8; /* HSION */
    uint32_t hsi_ready = wait_flag(&RCC_CR, 1u << 10);
    RCC_CR |= 1u << 24; /* PLL1ON */
    uint32_t pll_ready = wait_flag(&RCC_CR, 1u << 25);
    RCC_CFGR1 = (RCC_CFGR1 & ~3u) | 3u; /* SW = PLL1 */
    uint32_t switched = wait_flag(&RCC_CFGR1, 3u << 2);

    uint32_t sysclk = get_sysclk();
    uint32_t hclk = sysclk >> ((RCC_CFGR2 & 0x8u) ? ((RCC_CFGR2 & 0x7u) + 1u) : 0u);
    uint32_t pclk1 = hclk >> (((RCC_CFGR2 >> 4) & 0x4u) ? (((RCC_CFGR2 >> 4) & 0x3u) + 1u) : 0u);

    RCC_APB1ENR1 |= 1u << 17;
    USART_BRR(USART2_BASE) = (pclk1 + 57600u) / 115200u;
    USART_CR1(USART2_BASE) = (1u << 3) | (1u << 0);
    uint32_t te_ack = wait_flag(&USART_ISR(USART2_BASE), 1u << 21);

    console_kv("vos_ready", vos_ready);
    console_kv("flash_latency", latency);
    console_kv("hsi_ready", hsi_ready);
    console_kv("pll_ready", pll_ready);
    console_kv("sysclk_switched", switched);
    console_kv("sysclk", sysclk);
    console_kv("pclk1", pclk1);
    console_kv("usart_brr", USART_BRR(USART2_BASE));
    console_kv("teack", te_ack);

    /* TIM6 time base: 1 kHz update interrupt, as HAL_InitTick does. */
    RCC_APB1ENR1 |= 1u << 4; /* TIM6EN */
    TIM_PSC(TIM6_BASE) = pclk1 / 1000000u - 1u;
    TIM_ARR(TIM6_BASE) = 1000u - 1u;
    TIM_EGR(TIM6_BASE) = 1u;
    TIM_SR(TIM6_BASE) = 0;
    TIM_DIER(TIM6_BASE) = 1u;
    NVIC_IPR8(TIM6_IRQN) = 0x00;
    NVIC_ISER(TIM6_IRQN / 32u) = 1u << (TIM6_IRQN % 32u);
    TIM_CR1(TIM6_BASE) = 1u;
    hal_delay(20);
    console_kv("ticks_after_delay", uwTick >= 21u);

    RNG_CR = 1u << 2;
    uint32_t rng_ready = wait_flag(&RNG_SR, 1u);
    uint32_t a = RNG_DR;
    uint32_t b = RNG_DR;
    console_kv("rng_ready", rng_ready);
    console_kv("rng_differs", a != b);

    RCC_AHB1ENR |= 1u << 12; /* CRCEN */
    CRC_CR = (1u << 0) | (1u << 5) | (1u << 7); /* RESET, REV_IN by byte, REV_OUT */
    const char *text = "123456789";
    while (*text) {
        *(volatile uint8_t *)&CRC_DR = (uint8_t)*text++;
    }
    console_puts("crc32=");
    console_puthex(CRC_DR ^ 0xFFFFFFFFu);
    console_putc('\n');
    console_puts("hal init done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
