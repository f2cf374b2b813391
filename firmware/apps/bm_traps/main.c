/* Architectural traps and system-space access rules. The group number comes
 * from the mailbox word at 0x2007E000 when 0x2007E004 contains TRAPS_MAGIC
 * (both written by the host after reset):
 *
 *   0  CCR.DIV_0_TRP for code running from SRAM
 *   1  CCR.UNALIGN_TRP and the accesses that always need alignment
 *   2  unprivileged accesses to the system control space (BusFault)
 *   3  NMI pending bits and AIRCR writes from the non-secure app
 *   4  WFE, SEV and the event register
 *
 * Every check prints "name_key=value" lines; a group ends with "traps done".
 * Fault handlers record the fault, skip the faulting instruction and return
 * to privileged Thread mode. */

#include "bm_io.h"

#define MAILBOX_GROUP REG32(0x2007E000u)
#define MAILBOX_MAGIC REG32(0x2007E004u)
#define TRAPS_MAGIC   0x7EA95001u

#define SCB_AIRCR  REG32(0xE000ED0Cu)
#define SCB_SCR    REG32(0xE000ED10u)
#define SCB_CCR    REG32(0xE000ED14u)
#define SCB_BFAR   REG32(0xE000ED38u)
#define NVIC_ICPR(n) REG32(0xE000E280u + 4u * (n))
#define DWT_CTRL   REG32(0xE0001000u)
#define DWT_CYCCNT REG32(0xE0001004u)

#define CCR_USERSETMPEND (1u << 1)
#define CCR_UNALIGN_TRP  (1u << 3)
#define CCR_DIV_0_TRP    (1u << 4)
#define SCR_SEVONPEND    (1u << 4)
#define SHCSR_BUSFAULTENA (1u << 17)
#define SHCSR_USGFAULTENA (1u << 18)
#define ICSR_PENDNMISET  (1u << 31)
#define ICSR_PENDNMICLR  (1u << 30)

static volatile uint32_t fault_count;
static volatile uint32_t fault_number;
static volatile uint32_t fault_cfsr;
static volatile uint32_t fault_bfar;
static volatile uint32_t fault_hfsr;
static volatile uint32_t fault_pc;
static volatile uint32_t nmi_count;
static volatile uint32_t tick_count;

/* Called from the fault entries below with the stacked frame. */
void fault_record(uint32_t *frame, uint32_t number)
{
    fault_count++;
    fault_number = number;
    fault_cfsr = SCB_CFSR;
    fault_bfar = SCB_BFAR;
    fault_hfsr = SCB_HFSR;
    fault_pc = frame[6];
    uint16_t first = *(volatile uint16_t *)frame[6];
    frame[6] += (first >> 11) >= 0x1Du ? 4u : 2u;
    SCB_CFSR = fault_cfsr;
    SCB_HFSR = fault_hfsr;
    uint32_t control;
    __asm volatile("mrs %0, control" : "=r"(control));
    __asm volatile("msr control, %0\n isb" ::"r"(control & ~1u));
}

#define FAULT_ENTRY(name, number)                                                 \
    __attribute__((naked)) void name(void)                                        \
    {                                                                             \
        __asm volatile("tst lr, #4\n"                                             \
                       "ite eq\n"                                                 \
                       "mrseq r0, msp\n"                                          \
                       "mrsne r0, psp\n"                                          \
                       "movs r1, #" #number "\n"                                  \
                       "b fault_record\n");                                       \
    }

FAULT_ENTRY(HardFault_Handler, 3)
FAULT_ENTRY(BusFault_Handler, 5)
FAULT_ENTRY(UsageFault_Handler, 6)

/* SVC: back to privileged Thread mode. */
void SVC_Handler(void)
{
    uint32_t control;
    __asm volatile("mrs %0, control" : "=r"(control));
    __asm volatile("msr control, %0\n isb" ::"r"(control & ~1u));
}

void NMI_Handler(void)
{
    nmi_count++;
}

void SysTick_Handler(void)
{
    tick_count++;
}

static void kv(const char *name, const char *key, uint32_t value)
{
    console_puts(name);
    console_putc('_');
    console_kv(key, value);
}

/* Print the fault recorded since the last report, then forget it. */
static void report(const char *name)
{
    kv(name, "faults", fault_count);
    kv(name, "exception", fault_number);
    kv(name, "cfsr", fault_cfsr);
    kv(name, "bfar", fault_bfar);
    kv(name, "hfsr", fault_hfsr);
    kv(name, "pc", fault_pc);
    fault_count = 0;
    fault_number = 0;
    fault_cfsr = 0;
    fault_bfar = 0;
    fault_hfsr = 0;
    fault_pc = 0;
}

static void drop_privilege(void)
{
    __asm volatile("msr control, %0\n isb" ::"r"(1u));
}

/* Group 0: SDIV/UDIV by zero in code copied to SRAM. */

typedef uint32_t (*divide_t)(uint32_t dividend, uint32_t divisor);

static uint16_t ram_first[8] __attribute__((aligned(4)));
static uint16_t ram_second[8] __attribute__((aligned(4)));

static divide_t place(uint16_t *code, const uint16_t *halves, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        code[i] = halves[i];
    }
    __asm volatile("dsb\n isb" ::: "memory");
    return (divide_t)((uint32_t)code | 1u);
}

static void group_division(void)
{
    /* SDIV r0, r0, r1; BX LR */
    static const uint16_t sdiv_first[] = {0xFB90u, 0xF0F1u, 0x4770u};
    /* MOVS r2, #0; UDIV r0, r0, r1; BX LR: the division is not the block's first instruction. */
    static const uint16_t udiv_second[] = {0x2200u, 0xFBB0u, 0xF0F1u, 0x4770u};

    SCB_SHCSR |= SHCSR_USGFAULTENA;
    divide_t first = place(ram_first, sdiv_first, 3);
    kv("div_warm", "result", first(10u, 2u)); /* translated before the trap is armed */
    kv("div_off", "result", first(10u, 0u));
    report("div_off");

    SCB_CCR |= CCR_DIV_0_TRP;
    kv("div_cached", "result", first(10u, 0u));
    report("div_cached");
    kv("div_cached", "at", (uint32_t)ram_first);
    kv("div_nonzero", "result", first(12u, 3u));
    report("div_nonzero");

    divide_t second = place(ram_second, udiv_second, 4); /* written while armed */
    kv("div_written", "result", second(7u, 0u));
    report("div_written");
    kv("div_written", "at", (uint32_t)&ram_second[1]);

    SCB_CCR &= ~CCR_DIV_0_TRP;
    kv("div_disarmed", "result", second(7u, 0u));
    report("div_disarmed");
}

/* Group 1: unaligned accesses. Each access has a global label so the host
 * can compare the stacked PC with it; the fault handler skips it. */

static uint8_t buffer[16] __attribute__((aligned(8)));

#define ACCESS(name, before, text)                                                \
    extern char name[];                                                           \
    static __attribute__((noinline)) void run_##name(uint32_t *value, uint8_t *p) \
    {                                                                             \
        uint32_t v = *value;                                                      \
        __asm volatile(before ".global " #name "\n" #name ":\n" text              \
                       : "+r"(v)                                                  \
                       : "r"(p)                                                   \
                       : "r2", "r3", "memory");                                   \
        *value = v;                                                               \
    }

ACCESS(ua_ldr, "", "ldr %0, [%1]")
ACCESS(ua_str, "", "str %0, [%1]")
ACCESS(ua_ldrh, "", "ldrh %0, [%1]")
ACCESS(ua_strh, "", "strh %0, [%1]")
ACCESS(ua_ldrsh, "", "ldrsh %0, [%1]")
/* R2 starts with the value: it stays there when the load faults. */
ACCESS(ua_ldrd, "mov r2, %0\n", "ldrd r2, r3, [%1]\n mov %0, r2")
ACCESS(ua_ldm, "mov r2, %0\n", "ldm %1, {r2, r3}\n mov %0, r2")
ACCESS(ua_ldrex, "", "ldrex %0, [%1]")

static uint32_t word_at(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static void fill(void)
{
    for (uint32_t i = 0; i < sizeof(buffer); i++) {
        buffer[i] = (uint8_t)(0x10u + i);
    }
}

static void access_case(const char *name, void (*run)(uint32_t *, uint8_t *), uint8_t *p,
                        const char *label)
{
    uint32_t value = 0xC0DEC0DEu;
    fill();
    run(&value, p);
    kv(name, "value", value);
    kv(name, "memory", word_at(&buffer[0]));
    kv(name, "memory4", word_at(&buffer[4]));
    report(name);
    kv(name, "at", (uint32_t)label);
}

static void group_unaligned(void)
{
    SCB_SHCSR |= SHCSR_USGFAULTENA;
    access_case("off_ldr", run_ua_ldr, &buffer[1], ua_ldr);
    access_case("off_str", run_ua_str, &buffer[1], ua_str);
    access_case("off_ldrex", run_ua_ldrex, &buffer[1], ua_ldrex); /* traps without the bit */

    SCB_CCR |= CCR_UNALIGN_TRP;
    access_case("ldr", run_ua_ldr, &buffer[1], ua_ldr);
    access_case("str", run_ua_str, &buffer[1], ua_str);
    access_case("ldrh", run_ua_ldrh, &buffer[3], ua_ldrh);
    access_case("strh", run_ua_strh, &buffer[1], ua_strh);
    access_case("ldrsh", run_ua_ldrsh, &buffer[1], ua_ldrsh);
    access_case("ldrd", run_ua_ldrd, &buffer[2], ua_ldrd);
    access_case("ldm", run_ua_ldm, &buffer[2], ua_ldm);
    access_case("ldrex", run_ua_ldrex, &buffer[1], ua_ldrex);
    access_case("aligned_ldr", run_ua_ldr, &buffer[4], ua_ldr);
    access_case("aligned_strh", run_ua_strh, &buffer[2], ua_strh);
    SCB_CCR &= ~CCR_UNALIGN_TRP;
    access_case("cleared_ldr", run_ua_ldr, &buffer[1], ua_ldr);
}

/* Group 2: the system control space from unprivileged Thread mode. */

#define UNPRIVILEGED(name, text, address)                                         \
    extern char name[];                                                           \
    static __attribute__((noinline)) uint32_t run_##name(uint32_t value)          \
    {                                                                             \
        drop_privilege();                                                         \
        __asm volatile(".global " #name "\n" #name ":\n" text                     \
                       : "+r"(value)                                              \
                       : "r"(address)                                             \
                       : "memory");                                               \
        __asm volatile("svc #0" ::: "memory");                                    \
        return value;                                                             \
    }

UNPRIVILEGED(up_icsr_read, "ldr %0, [%1]", 0xE000ED04u)
UNPRIVILEGED(up_iser_write, "str %0, [%1]", 0xE000E100u + 4u * (42u / 32u))
UNPRIVILEGED(up_stir_write, "str %0, [%1]", 0xE000EF00u)
UNPRIVILEGED(up_systick_read, "ldr %0, [%1]", 0xE000E018u)

static void group_unprivileged(void)
{
    SCB_SHCSR |= SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    kv("up_icsr", "value", run_up_icsr_read(0xC0DEu));
    report("up_icsr");
    kv("up_icsr", "at", (uint32_t)up_icsr_read);

    run_up_iser_write(1u << (42u % 32u));
    report("up_iser");
    kv("up_iser", "at", (uint32_t)up_iser_write);
    kv("up_iser", "enabled", (NVIC_ISER(1) >> (42u % 32u)) & 1u);

    run_up_stir_write(42u);
    report("up_stir");
    kv("up_stir", "pending", (NVIC_ISPR(1) >> (42u % 32u)) & 1u);

    SCB_CCR |= CCR_USERSETMPEND;
    run_up_stir_write(42u);
    report("up_stir_allowed");
    kv("up_stir_allowed", "pending", (NVIC_ISPR(1) >> (42u % 32u)) & 1u);
    NVIC_ICPR(1) = 1u << (42u % 32u);
    SCB_CCR &= ~CCR_USERSETMPEND;

    SCB_SHCSR &= ~SHCSR_BUSFAULTENA;
    kv("up_systick", "value", run_up_systick_read(0xC0DEu));
    report("up_systick");
    kv("up_systick", "at", (uint32_t)up_systick_read);

    kv("privileged_icsr", "readable", SCB_ICSR != 0xFFFFFFFFu);
    report("privileged_icsr");
}

/* Group 3: NMI pending bits and AIRCR. */

static void group_system(void)
{
    SCB_ICSR = ICSR_PENDNMISET;
    __asm volatile("dsb\n isb");
    kv("nmi_set", "taken", nmi_count);
    kv("nmi_set", "icsr_bit", SCB_ICSR >> 31);
    SCB_ICSR = ICSR_PENDNMICLR;
    kv("nmi_clear", "taken", nmi_count);

    SCB_AIRCR = 3u << 8; /* no VECTKEY: ignored */
    kv("aircr_nokey", "prigroup", (SCB_AIRCR >> 8) & 7u);
    SCB_AIRCR = (0x05FAu << 16) | (3u << 8);
    kv("aircr_key", "prigroup", (SCB_AIRCR >> 8) & 7u);
    kv("aircr_key", "vectkeystat", SCB_AIRCR >> 16);
    SCB_AIRCR = (0x05FAu << 16);
    SCB_AIRCR = (0x1234u << 16) | (1u << 2); /* SYSRESETREQ without the key */
    kv("aircr_reset_nokey", "survived", 1u);
}

/* Group 4: WFE, SEV and the event register. */

static uint32_t cycles(void)
{
    return DWT_CYCCNT;
}

static void clear_event(void)
{
    __asm volatile("sev\n wfe" ::: "memory");
}

static void group_events(void)
{
    DWT_CTRL |= 1u;

    uint32_t start = cycles();
    __asm volatile("sev\n wfe" ::: "memory");
    kv("sev_wfe", "cycles", cycles() - start);

    start = cycles();
    __asm volatile("sev.w\n wfe" ::: "memory");
    kv("sev_wide_wfe", "cycles", cycles() - start);

    /* SysTick every 20000 cycles: with the event clear, WFE sleeps until it. */
    tick_count = 0;
    SYST_RVR = 19999u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u;
    clear_event();
    start = cycles();
    __asm volatile("wfe" ::: "memory");
    uint32_t slept = cycles() - start;
    SYST_CSR = 0;
    kv("wfe_sleep", "cycles", slept);
    kv("wfe_sleep", "ticks", tick_count);

    /* The SysTick exception's entry and return set the event register. */
    start = cycles();
    __asm volatile("wfe" ::: "memory");
    kv("after_exception", "cycles", cycles() - start);

    /* SVC entry and return set it too. */
    clear_event();
    __asm volatile("svc #0" ::: "memory");
    start = cycles();
    __asm volatile("wfe" ::: "memory");
    kv("after_svc", "cycles", cycles() - start);

    /* SEVONPEND: TIM6's update pends its disabled IRQ, which wakes WFE. */
    RCC_APB1ENR1 |= 1u << 4;
    SCB_SCR |= SCR_SEVONPEND;
    TIM_PSC(TIM6_BASE) = 0;
    TIM_ARR(TIM6_BASE) = 29999u;
    TIM_EGR(TIM6_BASE) = 1u;
    TIM_SR(TIM6_BASE) = 0;
    TIM_DIER(TIM6_BASE) = 1u;
    clear_event();
    start = cycles();
    TIM_CR1(TIM6_BASE) = 1u;
    __asm volatile("wfe" ::: "memory");
    uint32_t waited = cycles() - start;
    TIM_CR1(TIM6_BASE) = 0;
    kv("sevonpend", "cycles", waited);
    kv("sevonpend", "pending", (NVIC_ISPR(TIM6_IRQN / 32u) >> (TIM6_IRQN % 32u)) & 1u);
    kv("sevonpend", "uif", TIM_SR(TIM6_BASE) & 1u);
    TIM_SR(TIM6_BASE) = 0;
    NVIC_ICPR(TIM6_IRQN / 32u) = 1u << (TIM6_IRQN % 32u);
    SCB_SCR &= ~SCR_SEVONPEND;
}

int main(void)
{
    console_init();
    uint32_t group = MAILBOX_MAGIC == TRAPS_MAGIC ? MAILBOX_GROUP : 0xFFu;
    console_kv("group", group);
    switch (group) {
    case 0:
        group_division();
        break;
    case 1:
        group_unaligned();
        break;
    case 2:
        group_unprivileged();
        break;
    case 3:
        group_system();
        break;
    case 4:
        group_events();
        break;
    default:
        break;
    }
    console_puts("traps done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
