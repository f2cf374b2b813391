/* Hostile application: does whatever the host asks, to test that neither the
 * machine nor the microvisor can be broken by the code they run.
 *
 * The host writes a request into `attack` between CPU slices: an operation
 * (`op`), an address and up to four arguments, then bumps `seq` and pends
 * TIM8_UP to wake the core. The main loop runs the operation and stores its
 * result; an operation that crashes the app never returns. `hardfault_mode`
 * chooses what the HardFault handler does, `exc_return` makes the SVCall
 * handler return through a forged EXC_RETURN value.
 */

#include <stdint.h>

#include "mv_syscalls.h"

enum attack_op {
    OP_NONE = 0,
    OP_CALL = 1,        /* call `address` with args[0..3], result = R0 */
    OP_READ32 = 2,      /* result = *(uint32_t *)address */
    OP_READ16 = 3,
    OP_READ8 = 4,
    OP_WRITE32 = 5,     /* *(uint32_t *)address = args[0] */
    OP_WRITE16 = 6,
    OP_WRITE8 = 7,
    OP_SVC_ON_SP = 8,   /* MSP = address, then SVC: exception entry stacks there */
    OP_SVC_ON_PSP = 9,  /* PSP = address, thread mode on PSP, then SVC */
    OP_MSPLIM = 10,     /* MSPLIM = SP - args[0], then push past it */
    OP_SVC = 11,        /* SVC #0 (the handler may return through exc_return) */
    OP_UDF = 12,        /* undefined instruction */
    OP_SYSTICK = 13,    /* SysTick reload args[0], CSR args[1] (0: 7); count to args[2] (0: forever) */
    OP_VTOR = 14,       /* VTOR = address, then pend PendSV */
    OP_FLOOD = 15,      /* every IRQ re-pends every IRQ, args[0] times (0: forever) */
    OP_WFI_MASKED = 16, /* PRIMASK set, SysTick off, WFI forever */
    OP_LOG_FLOOD = 17,  /* mvServerLog args[0] times; result = calls that returned OKAY */
    OP_CALL_IN_ISR = 18,/* OP_CALL from the TIM8_BRK handler */
    OP_UNMODELLED = 19, /* read args[0] words from address, step 4 */
    OP_LOOP = 20,       /* spin forever, no system calls */
    OP_TAIL_CALL_IN_ISR = 21, /* an IRQ handler that ends by branching to `address` */
    OP_FAULT_UNDER_TICKS = 22, /* UDF into a low-priority UsageFault handler that spins while
                                * SysTick (reload args[0]) busy-loops args[1] times per tick */
};

struct attack_request {
    volatile uint32_t seq;
    volatile uint32_t done;
    volatile uint32_t op;
    volatile uint32_t address;
    volatile uint32_t args[4];
    volatile uint32_t result;
    volatile uint32_t hardfault_mode; /* 0: spin, 1: fault again (lockup), 2: WFI forever */
    volatile uint32_t exc_return;     /* non-zero: the SVCall handler returns through it */
    volatile uint32_t irq_count;
    volatile uint32_t tick_count;
    volatile uint32_t progress;
    volatile uint32_t hardfaults;
};

struct attack_request attack;
uint8_t arena[16 * 1024] __attribute__((aligned(512)));
uint32_t sram_vectors[16 + 125] __attribute__((aligned(512)));

typedef uint32_t (*call4_t)(uint32_t, uint32_t, uint32_t, uint32_t);

#define TIM8_BRK_IRQN 51u
#define TIM8_UP_IRQN 52u
#define TIM8_TRG_COM_IRQN 53u
#define NVIC_ISER(n) (*(volatile uint32_t *)(0xE000E100u + 4u * (n)))
#define NVIC_ISPR(n) (*(volatile uint32_t *)(0xE000E200u + 4u * (n)))
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define ICSR_PENDSVSET (1u << 28)
#define SCB_SHPR1 (*(volatile uint32_t *)0xE000ED18u)
#define SCB_SHPR3 (*(volatile uint32_t *)0xE000ED20u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)

/* Starts the cycle counter; returns its value. */
static uint32_t cycles_start(void)
{
    DEMCR |= 1u << 24;
    DWT_CTRL |= 1u;
    return DWT_CYCCNT;
}

static uint32_t do_call(void)
{
    call4_t fn = (call4_t)(uintptr_t)attack.address;
    return fn(attack.args[0], attack.args[1], attack.args[2], attack.args[3]);
}

void TIM8_BRK_IRQHandler(void)
{
    attack.irq_count++;
    if (attack.op == OP_CALL_IN_ISR && attack.seq != attack.done) {
        attack.result = do_call();
        attack.done = attack.seq;
    }
}

void TIM8_UP_IRQHandler(void)
{
}

void SysTick_Handler(void)
{
    attack.tick_count++;
    if (attack.op == OP_FAULT_UNDER_TICKS) {
        for (uint32_t n = 0; n < attack.args[1]; n++) {
            __asm volatile("nop");
        }
    }
}

void HardFault_Handler(void)
{
    attack.hardfaults++;
    if (attack.hardfault_mode == 1u) {
        __builtin_trap();
    }
    if (attack.hardfault_mode == 2u) {
        __asm volatile("cpsid i");
        for (;;) {
            __asm volatile("wfi");
        }
    }
    for (;;) {
    }
}

/* Returns normally, or through the forged EXC_RETURN in attack.exc_return. */
__attribute__((naked)) void SVC_Handler(void)
{
    __asm volatile(
        "ldr r0, =attack\n"
        "ldr r0, [r0, %0]\n"
        "cmp r0, #0\n"
        "it ne\n"
        "bxne r0\n"
        "bx lr\n"
        :
        : "i"(__builtin_offsetof(struct attack_request, exc_return)));
}

/* Every IRQ of the flood table lands here and pends every IRQ again. */
static void flood_handler(void)
{
    attack.irq_count++;
    if (attack.args[0] != 0u && attack.irq_count >= attack.args[0]) {
        for (uint32_t n = 0; n < 4u; n++) {
            NVIC_ISER(n + 32u) = 0xFFFFFFFFu; /* ICER */
            NVIC_ISPR(n + 32u) = 0xFFFFFFFFu; /* ICPR */
        }
        return;
    }
    for (uint32_t n = 0; n < 4u; n++) {
        NVIC_ISPR(n) = 0xFFFFFFFFu;
    }
}

/* Counts, then tail-calls attack.address with args[0] and args[1], leaving
 * EXC_RETURN in LR as compilers do for `return call(...)` in a handler: the
 * callee's return is the exception return. */
__attribute__((naked)) static void tail_call_handler(void)
{
    __asm volatile("ldr r3, =attack\n"
                   "ldr r2, [r3, %0]\n"
                   "adds r2, #1\n"
                   "str r2, [r3, %0]\n"
                   "ldr r12, [r3, %1]\n"
                   "ldr r0, [r3, %2]\n"
                   "ldr r1, [r3, %3]\n"
                   "bx r12\n"
                   :
                   : "i"(__builtin_offsetof(struct attack_request, irq_count)),
                     "i"(__builtin_offsetof(struct attack_request, address)),
                     "i"(__builtin_offsetof(struct attack_request, args[0])),
                     "i"(__builtin_offsetof(struct attack_request, args[1])));
}

static void pendsv_counter(void)
{
    attack.irq_count++;
}

__attribute__((naked)) static void svc_on_sp(uint32_t sp)
{
    (void)sp;
    __asm volatile("mov sp, r0\n"
                   "svc #0\n"
                   "b .\n");
}

__attribute__((naked)) static void svc_on_psp(uint32_t sp)
{
    (void)sp;
    __asm volatile("msr psp, r0\n"
                   "mrs r1, control\n"
                   "orr r1, r1, #2\n"
                   "msr control, r1\n"
                   "isb\n"
                   "svc #0\n"
                   "b .\n");
}

__attribute__((naked)) static void push_past_msplim(uint32_t distance)
{
    (void)distance;
    __asm volatile("mov r1, sp\n"
                   "sub r1, r1, r0\n"
                   "msr msplim, r1\n"
                   "1: push {r0-r7}\n"
                   "b 1b\n");
}

static void run_request(void)
{
    uint32_t address = attack.address;
    uint32_t result = 0;
    uint32_t start = cycles_start();

    switch (attack.op) {
    case OP_CALL:
        result = do_call();
        break;
    case OP_READ32:
        result = *(volatile uint32_t *)address;
        break;
    case OP_READ16:
        result = *(volatile uint16_t *)address;
        break;
    case OP_READ8:
        result = *(volatile uint8_t *)address;
        break;
    case OP_WRITE32:
        *(volatile uint32_t *)address = attack.args[0];
        break;
    case OP_WRITE16:
        *(volatile uint16_t *)address = (uint16_t)attack.args[0];
        break;
    case OP_WRITE8:
        *(volatile uint8_t *)address = (uint8_t)attack.args[0];
        break;
    case OP_SVC_ON_SP:
        svc_on_sp(address);
        break;
    case OP_SVC_ON_PSP:
        svc_on_psp(address);
        break;
    case OP_MSPLIM:
        push_past_msplim(attack.args[0]);
        break;
    case OP_SVC:
        __asm volatile("svc #0" ::: "r0", "memory");
        break;
    case OP_UDF:
        __builtin_trap();
        break;
    case OP_SYSTICK:
        SYST_RVR = attack.args[0];
        SYST_CVR = 0;
        SYST_CSR = attack.args[1] ? attack.args[1] : 7u;
        while (attack.args[2] == 0u || attack.progress < attack.args[2]) {
            attack.progress++;
        }
        SYST_CSR = 0;
        result = DWT_CYCCNT - start;
        break;
    case OP_VTOR:
        SCB_VTOR = address;
        __asm volatile("dsb\nisb");
        SCB_ICSR = ICSR_PENDSVSET;
        __asm volatile("dsb\nisb");
        result = attack.irq_count;
        break;
    case OP_FLOOD:
        for (uint32_t n = 0; n < 16u + 125u; n++) {
            sram_vectors[n] = ((const uint32_t *)0x08000000u)[n];
        }
        for (uint32_t n = 16; n < 16u + 125u; n++) {
            sram_vectors[n] = (uint32_t)(uintptr_t)flood_handler;
        }
        SCB_VTOR = (uint32_t)(uintptr_t)sram_vectors;
        for (uint32_t n = 0; n < 4u; n++) {
            NVIC_ISER(n) = 0xFFFFFFFFu;
            NVIC_ISPR(n) = 0xFFFFFFFFu;
        }
        while (attack.args[0] == 0u || attack.irq_count < attack.args[0]) {
            attack.progress++;
        }
        SCB_VTOR = 0x08000000u;
        NVIC_ISER(TIM8_BRK_IRQN / 32u) = 1u << (TIM8_BRK_IRQN % 32u);
        NVIC_ISER(TIM8_UP_IRQN / 32u) = 1u << (TIM8_UP_IRQN % 32u);
        result = DWT_CYCCNT - start;
        break;
    case OP_WFI_MASKED:
        SYST_CSR = 0;
        __asm volatile("cpsid i");
        for (;;) {
            __asm volatile("wfi");
            attack.progress++;
        }
        break;
    case OP_LOG_FLOOD:
        for (uint32_t n = 0; n < attack.args[0]; n++) {
            if (mvServerLog((const uint8_t *)"flood", 5) == MV_STATUS_OKAY) {
                result++;
            }
        }
        break;
    case OP_CALL_IN_ISR:
        NVIC_ISPR(TIM8_BRK_IRQN / 32u) = 1u << (TIM8_BRK_IRQN % 32u);
        while (attack.seq != attack.done) {
        }
        return;
    case OP_UNMODELLED:
        for (uint32_t n = 0; n < attack.args[0]; n++) {
            result += *(volatile uint32_t *)(address + 4u * n);
        }
        break;
    case OP_TAIL_CALL_IN_ISR:
        for (uint32_t n = 0; n < 16u + 125u; n++) {
            sram_vectors[n] = ((const uint32_t *)0x08000000u)[n];
        }
        sram_vectors[16u + TIM8_TRG_COM_IRQN] = (uint32_t)(uintptr_t)tail_call_handler;
        SCB_VTOR = (uint32_t)(uintptr_t)sram_vectors;
        NVIC_ISER(TIM8_TRG_COM_IRQN / 32u) = 1u << (TIM8_TRG_COM_IRQN % 32u);
        NVIC_ISPR(TIM8_TRG_COM_IRQN / 32u) = 1u << (TIM8_TRG_COM_IRQN % 32u);
        __asm volatile("dsb\nisb");
        result = attack.irq_count;
        SCB_VTOR = 0x08000000u;
        break;
    case OP_FAULT_UNDER_TICKS:
        SCB_SHPR1 = 0xF0u << 16;       /* UsageFault: lowest priority */
        SCB_SHPR3 = 0x00u << 24;       /* SysTick: highest */
        SCB_SHCSR |= 1u << 18;         /* USGFAULTENA */
        SYST_RVR = attack.args[0];
        SYST_CVR = 0;
        SYST_CSR = 7u;
        __builtin_trap();
        break;
    case OP_LOOP:
        for (;;) {
            attack.progress++;
        }
        break;
    default:
        result = 0xFFFFFFFFu;
        break;
    }
    attack.result = result;
    attack.done = attack.seq;
}

/* Keeps handlers that only the host names from --gc-sections. */
static void *const keep[] = {(void *)pendsv_counter, (void *)arena, (void *)sram_vectors};

int main(void)
{
    __asm volatile("" : : "r"(keep) : "memory");
    NVIC_ISER(TIM8_BRK_IRQN / 32u) = 1u << (TIM8_BRK_IRQN % 32u);
    NVIC_ISER(TIM8_UP_IRQN / 32u) = 1u << (TIM8_UP_IRQN % 32u);
    for (;;) {
        if (attack.seq == attack.done) {
            __asm volatile("wfi");
        } else {
            run_request();
        }
    }
}
