/* I2C1 sensors: reads the MCP9808 (0x18) and TH02 (0x40) the way HAL
 * polling code does, probes an absent address for a NACK, then arms the
 * MCP9808 alert window (upper limit 30 C, active-low on PF3 -> EXTI3) and
 * sleeps until the alert interrupt reports a reading above the limit. */

#include "bm_io.h"

#define RCC_AHB2ENR1_ REG32(RCC_BASE + 0x8Cu)
#define I2C1_BASE 0x40005400u
#define I2C_CR1 REG32(I2C1_BASE + 0x00u)
#define I2C_CR2 REG32(I2C1_BASE + 0x04u)
#define I2C_TIMINGR REG32(I2C1_BASE + 0x10u)
#define I2C_ISR REG32(I2C1_BASE + 0x18u)
#define I2C_ICR REG32(I2C1_BASE + 0x1Cu)
#define I2C_RXDR REG32(I2C1_BASE + 0x24u)
#define I2C_TXDR REG32(I2C1_BASE + 0x28u)
#define ISR_TXIS (1u << 1)
#define ISR_RXNE (1u << 2)
#define ISR_NACKF (1u << 4)
#define ISR_STOPF (1u << 5)
#define ISR_TC (1u << 6)
#define CR2_RD_WRN (1u << 10)
#define CR2_START (1u << 13)
#define CR2_AUTOEND (1u << 25)
#define GPIOF_BASE 0x42021400u
#define EXTI_BASE 0x46022000u
#define EXTI_FTSR1 REG32(EXTI_BASE + 0x04u)
#define EXTI_FPR1 REG32(EXTI_BASE + 0x10u)
#define EXTI_EXTICR1 REG32(EXTI_BASE + 0x60u)
#define EXTI_IMR1 REG32(EXTI_BASE + 0x80u)
#define EXTI3_IRQN 14u

static volatile uint32_t alerts;

void EXTI3_IRQHandler(void)
{
    if (EXTI_FPR1 & (1u << 3)) {
        EXTI_FPR1 = 1u << 3;
        alerts++;
    }
}

static int wait_isr(uint32_t mask)
{
    for (uint32_t spins = 0; spins < 100000u; spins++) {
        uint32_t isr = I2C_ISR;
        if (isr & ISR_NACKF) {
            return -1;
        }
        if (isr & mask) {
            return 0;
        }
    }
    return -2;
}

static int i2c_write(uint8_t address, const uint8_t *data, uint32_t length)
{
    I2C_CR2 = ((uint32_t)address << 1) | (length << 16) | CR2_AUTOEND | CR2_START;
    for (uint32_t i = 0; i < length; i++) {
        if (wait_isr(ISR_TXIS) != 0) {
            I2C_ICR = ISR_NACKF | ISR_STOPF;
            return -1;
        }
        I2C_TXDR = data[i];
    }
    int status = wait_isr(ISR_STOPF);
    I2C_ICR = ISR_STOPF;
    return status;
}

static int i2c_read_register(uint8_t address, uint8_t reg, uint8_t *data, uint32_t length)
{
    I2C_CR2 = ((uint32_t)address << 1) | (1u << 16) | CR2_START;
    if (wait_isr(ISR_TXIS) != 0) {
        I2C_ICR = ISR_NACKF | ISR_STOPF;
        return -1;
    }
    I2C_TXDR = reg;
    if (wait_isr(ISR_TC) != 0) {
        return -1;
    }
    I2C_CR2 = ((uint32_t)address << 1) | CR2_RD_WRN | (length << 16) | CR2_AUTOEND | CR2_START;
    for (uint32_t i = 0; i < length; i++) {
        if (wait_isr(ISR_RXNE) != 0) {
            return -1;
        }
        data[i] = (uint8_t)I2C_RXDR;
    }
    int status = wait_isr(ISR_STOPF);
    I2C_ICR = ISR_STOPF;
    return status;
}

static int32_t mcp9808_centi_celsius(void)
{
    uint8_t raw[2];
    i2c_read_register(0x18, 0x05, raw, 2);
    int32_t value = ((raw[0] & 0x1F) << 8) | raw[1];
    if (value & 0x1000) {
        value -= 0x2000;
    }
    return value * 100 / 16;
}

static void print_signed(const char *key, int32_t value)
{
    console_puts(key);
    console_putc('=');
    if (value < 0) {
        console_putc('-');
        value = -value;
    }
    console_putu((uint32_t)value);
    console_putc('\n');
}

int main(void)
{
    console_init();
    RCC_APB1ENR1 |= 1u << 21; /* I2C1EN */
    I2C_TIMINGR = 0x30909DECu;
    I2C_CR1 = 1u;

    uint8_t id[2];
    i2c_read_register(0x18, 0x06, id, 2);
    console_kv("mcp9808_manufacturer", ((uint32_t)id[0] << 8) | id[1]);
    print_signed("mcp9808_c100", mcp9808_centi_celsius());

    uint8_t start_temperature[2] = {0x03, 0x11};
    i2c_write(0x40, start_temperature, 2);
    uint8_t status = 1;
    while (status & 1u) {
        i2c_read_register(0x40, 0x00, &status, 1);
    }
    uint8_t data[2];
    i2c_read_register(0x40, 0x01, data, 2);
    uint32_t raw = (((uint32_t)data[0] << 8) | data[1]) >> 2;
    print_signed("th02_c100", (int32_t)(raw * 100u / 32u) - 5000);

    uint8_t start_humidity[2] = {0x03, 0x01};
    i2c_write(0x40, start_humidity, 2);
    i2c_read_register(0x40, 0x01, data, 2);
    raw = (((uint32_t)data[0] << 8) | data[1]) >> 4;
    print_signed("th02_rh100", (int32_t)(raw * 100u / 16u) - 2400);

    uint8_t probe = 0;
    console_kv("absent_nack", i2c_write(0x55, &probe, 1) != 0);

    /* Alert on PF3, falling edge (active low), EXTI3. */
    RCC_AHB2ENR1_ |= 1u << 5; /* GPIOFEN */
    GPIO_MODER(GPIOF_BASE) &= ~(3u << 6);
    EXTI_EXTICR1 = (EXTI_EXTICR1 & ~(0xFFu << 24)) | (5u << 24);
    EXTI_FTSR1 |= 1u << 3;
    EXTI_IMR1 |= 1u << 3;
    NVIC_ISER(EXTI3_IRQN / 32u) = 1u << (EXTI3_IRQN % 32u);

    uint8_t upper[3] = {0x02, 0x01, 0xE0}; /* 30.0 C */
    uint8_t lower[3] = {0x03, 0x00, 0x00}; /* 0.0 C */
    uint8_t critical[3] = {0x04, 0x06, 0x40}; /* 100.0 C */
    uint8_t config[3] = {0x01, 0x00, 0x08}; /* alert output on, comparator, active low */
    i2c_write(0x18, upper, 3);
    i2c_write(0x18, lower, 3);
    i2c_write(0x18, critical, 3);
    i2c_write(0x18, config, 3);
    console_kv("alert_pin_idle", (GPIO_IDR(GPIOF_BASE) >> 3) & 1u);
    console_puts("waiting for alert\n");
    while (alerts == 0u) {
        __asm volatile("wfi");
    }
    print_signed("alert_c100", mcp9808_centi_celsius());
    console_kv("alert_pin_active", ((GPIO_IDR(GPIOF_BASE) >> 3) & 1u) == 0u);
    console_puts("sensors done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
