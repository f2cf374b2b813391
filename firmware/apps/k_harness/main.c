/* Kernel test harness: calls whatever function the host asks for.
 *
 * The host (a Python test) writes a request into `harness` between CPU slices:
 * the function address (a gateway entry such as 0x0C1FE011, or one of the
 * crash functions below) and four arguments, then bumps `seq`. The main loop
 * makes the call as an ordinary AAPCS call from compiled code, stores R0 in
 * `result` and copies `seq` to `done`. With `in_isr` set, the call is made from
 * the TIM8_BRK interrupt handler instead, so handler-mode rules can be tested.
 * `arena` is scratch SRAM for buffers, 512-aligned for logging and channels.
 * Between requests the core sleeps in WFI; the host pends TIM8_UP to wake it.
 */

#include <stdint.h>

typedef uint32_t (*call4_t)(uint32_t, uint32_t, uint32_t, uint32_t);

struct harness_request {
    volatile uint32_t seq;
    volatile uint32_t done;
    volatile uint32_t fn;
    volatile uint32_t args[4];
    volatile uint32_t result;
    volatile uint32_t in_isr;
    volatile uint32_t lockup_mode;
    volatile uint32_t irq_count;
};

struct harness_request harness;
uint8_t arena[64 * 1024] __attribute__((aligned(512)));

#define TIM8_BRK_IRQN 51u
#define TIM8_UP_IRQN 52u
#define NVIC_ISER(n) (*(volatile uint32_t *)(0xE000E100u + 4u * (n)))
#define NVIC_ISPR(n) (*(volatile uint32_t *)(0xE000E200u + 4u * (n)))
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)

static void run_request(void)
{
    call4_t fn = (call4_t)(uintptr_t)harness.fn;
    harness.result = fn(harness.args[0], harness.args[1], harness.args[2], harness.args[3]);
    harness.done = harness.seq;
}

/* Notification centres in the tests pend this IRQ; with in_isr it runs the request. */
void TIM8_BRK_IRQHandler(void)
{
    harness.irq_count++;
    if (harness.in_isr && harness.seq != harness.done) {
        run_request();
    }
}

/* The host pends this IRQ after writing a request, to wake the core from WFI. */
void TIM8_UP_IRQHandler(void)
{
}

/* A fault reaching HardFault either spins here (stuck in fault) or, in lockup
 * mode, faults again inside the handler (lockup). */
void HardFault_Handler(void)
{
    if (harness.lockup_mode) {
        __builtin_trap();
    }
    for (;;) {
    }
}

uint32_t crash_secure_read(void) { return *(volatile uint32_t *)0x30000000u; }
uint32_t crash_unmapped_write(void) { *(volatile uint32_t *)0x60000000u = 1; return 0; }
uint32_t crash_flash_write(void) { *(volatile uint32_t *)0x08000100u = 1; return 0; }
uint32_t crash_gateway_hole(void) { return ((call4_t)0x0C1FE0A1u)(0, 0, 0, 0); }
uint32_t crash_undefined(void) { __builtin_trap(); return 0; }
uint32_t crash_lockup(void) { harness.lockup_mode = 1; __builtin_trap(); return 0; }
uint32_t crash_hang(void) { for (;;) { } return 0; }

/* Fault with a 4608-byte frame below the caller, filled with (offset & 0xFF), so a
 * crash report can hold up to its 4096-byte maximum of stack. */
uint32_t crash_deep_stack(void)
{
    volatile uint8_t frame[4608];
    for (uint32_t i = 0; i < sizeof(frame); i++) {
        frame[i] = (uint8_t)i;
    }
    return frame[0] + *(volatile uint32_t *)0x30000000u;
}

/* The host calls these by address and uses `arena` for buffers; nothing in the
 * firmware calls them, so this table keeps --gc-sections from dropping them. */
static void *const keep[] = {
    (void *)crash_secure_read, (void *)crash_unmapped_write, (void *)crash_flash_write,
    (void *)crash_gateway_hole, (void *)crash_undefined, (void *)crash_lockup,
    (void *)crash_hang, (void *)crash_deep_stack, (void *)arena,
};

int main(void)
{
    __asm volatile("" : : "r"(keep) : "memory");
    NVIC_ISER(TIM8_BRK_IRQN / 32u) = 1u << (TIM8_BRK_IRQN % 32u);
    NVIC_ISER(TIM8_UP_IRQN / 32u) = 1u << (TIM8_UP_IRQN % 32u);
    for (;;) {
        if (harness.seq == harness.done) {
            __asm volatile("wfi");
        } else {
            if (harness.in_isr) {
                NVIC_ISPR(TIM8_BRK_IRQN / 32u) = 1u << (TIM8_BRK_IRQN % 32u);
                while (harness.seq != harness.done) {
                }
            } else {
                run_request();
            }
        }
    }
}
