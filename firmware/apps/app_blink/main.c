/* Bare-metal example: logs to the server and blinks the user LED (PA5) once a
 * second. */

#include <stdint.h>

#include "board.h"
#include "log.h"
#include "mv_syscalls.h"

int main(void)
{
    board_init();
    log_init();

    uint32_t hz = 0;
    mvGetSysClk(&hz);
    log_printf("app_blink started, system clock %lu Hz", (unsigned long)hz);

    for (uint32_t count = 1;; count++) {
        board_led_set(1);
        log_printf("blink %lu: LED on", (unsigned long)count);
        board_delay_ms(500);
        board_led_set(0);
        log_printf("blink %lu: LED off", (unsigned long)count);
        board_delay_ms(500);
    }
}
