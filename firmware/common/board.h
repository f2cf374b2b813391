/* Board support shared by the example applications: a millisecond clock from
 * SysTick, sleeping delays, and the user LED on PA5. */

#ifndef OPENVISOR_BOARD_H
#define OPENVISOR_BOARD_H

#include <stdint.h>

/* Starts the 1 kHz SysTick from the clock mvGetHClk reports and makes PA5 an
 * output. The GPIOA clock is enabled through mvPeriphPoke32, because RCC
 * belongs to the microvisor. */
void board_init(void);

/* Milliseconds since board_init. */
uint32_t board_millis(void);

/* Sleeps with WFI until ms milliseconds have passed. */
void board_delay_ms(uint32_t ms);

void board_led_set(int on);
void board_led_toggle(void);

/* Enables external interrupt irqn in the NVIC. */
void board_enable_irq(uint32_t irqn);

#endif
