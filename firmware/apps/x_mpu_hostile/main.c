/* Hostile privilege and MPU sequences, each printing "name=value" lines.
 *
 * - MPU_RBAR_A1..A3 and MPU_RLAR_A1..A3 select region MPU_RNR[7:2]:n, so an
 *   alias write with RNR = 5 through A3 reaches region 7, never region 0.
 * - An SVC handler entered from Thread mode that dropped privilege with
 *   MSR CONTROL is privileged: its CPSID I sets PRIMASK.
 * - Code in a privileged-only executable region runs from privileged Thread
 *   mode and faults (MemManage, IACCVIOL) once an SVC has dropped privilege,
 *   also after earlier privilege changes.
 * - Code rewritten in an SRAM page that the MPU restricts runs as rewritten
 *   after DSB and ISB.
 * - HardFault (HFNMIENA clear) runs code from an execute-never region, and
 *   privileged Thread mode calling the same code afterwards faults, both
 *   with the region's page shared with other regions and with one region
 *   covering all of SRAM.
 *
 * SVC #0 toggles CONTROL.nPRIV, SVC #1 records PRIMASK after CPSID I. The
 * MemManage handler records CFSR and returns to the caller of the denied
 * function. The last line is "hostile done".
 */

#include "bm_io.h"

#define MPU_CTRL REG32(0xE000ED94u)
#define MPU_RNR REG32(0xE000ED98u)
#define MPU_RBAR REG32(0xE000ED9Cu)
#define MPU_RLAR REG32(0xE000EDA0u)
#define MPU_RBAR_A1 REG32(0xE000EDA4u)
#define MPU_RLAR_A1 REG32(0xE000EDA8u)
#define MPU_RBAR_A2 REG32(0xE000EDACu)
#define MPU_RLAR_A3 REG32(0xE000EDB8u)
#define MPU_MAIR0 REG32(0xE000EDC0u)

#define CTRL_ENABLE 1u
#define SHCSR_MEMFAULTENA (1u << 16)
#define CFSR_IACCVIOL 1u

/* RBAR access permissions AP[2:1] and execute-never. */
#define AP_PRIV_RW (0u << 1)
#define AP_RW (1u << 1)
#define AP_RO (3u << 1)
#define XN 1u

/* movs r0, #42; bx lr, in a privileged-only executable region of its own. */
static volatile uint16_t privileged_code[16] __attribute__((aligned(32)));

static volatile uint32_t handler_primask;
static volatile uint32_t mm_count;
static volatile uint32_t mm_cfsr;
static volatile uint32_t hardfault_result;

/* movs r0, #44; bx lr, in read-write execute-never SRAM. */
static volatile uint16_t execute_never_code[16] __attribute__((aligned(32)));

static void report(const char *name, uint32_t value)
{
    console_puts(name);
    console_puts("=");
    console_puthex(value);
    console_puts("\n");
}

void svc_dispatch(uint32_t *frame)
{
    uint32_t number = *(uint16_t *)(frame[6] - 2u) & 0xFFu;
    if (number == 0) {
        uint32_t control;
        __asm volatile("mrs %0, control" : "=r"(control));
        __asm volatile("msr control, %0\n isb" : : "r"(control ^ 1u) : "memory");
    } else if (number == 1) {
        uint32_t primask;
        __asm volatile("cpsid i\n mrs %0, primask\n cpsie i" : "=r"(primask) : : "memory");
        handler_primask = primask;
    }
}

BM_FRAME_HANDLER(SVC_Handler, svc_dispatch)

void memmanage_dispatch(uint32_t *frame)
{
    uint32_t cfsr = SCB_CFSR;
    SCB_CFSR = cfsr & 0xFFu;
    mm_count++;
    mm_cfsr = cfsr;
    if (cfsr & CFSR_IACCVIOL) {
        frame[6] = frame[5] & ~1u; /* return to the caller */
    } else {
        frame[6] += 2u;
    }
}

BM_FRAME_HANDLER(MemManage_Handler, memmanage_dispatch)

/* Call `code`; return its R0, or 0xDEAD when the call was denied. */
static uint32_t call_code(volatile uint16_t *code)
{
    register uint32_t r0 __asm("r0") = 0xDEADu;
    register uint32_t target __asm("r1") = (uint32_t)code | 1u;
    __asm volatile("blx r1" : "+r"(r0) : "r"(target) : "r2", "r3", "r12", "lr", "memory");
    return r0;
}

/* HardFault from UDF: run the execute-never code and skip the UDF. */
void hardfault_dispatch(uint32_t *frame)
{
    hardfault_result = call_code(execute_never_code);
    SCB_HFSR = SCB_HFSR;
    SCB_CFSR = SCB_CFSR;
    frame[6] += 2u;
}

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "push {r4, lr}\n"
        "bl hardfault_dispatch\n"
        "pop {r4, pc}\n");
}

static void toggle_privilege(void)
{
    __asm volatile("svc #0" ::: "memory");
}

static void set_region(uint32_t number, uint32_t base, uint32_t last, uint32_t attributes)
{
    MPU_RNR = number;
    MPU_RBAR = (base & ~0x1Fu) | attributes;
    MPU_RLAR = (last & ~0x1Fu) | 1u; /* AttrIndx 0, EN */
}

static void check_aliases(void)
{
    MPU_RNR = 1;
    MPU_RBAR_A1 = 0x20010000u | AP_RW;
    MPU_RNR = 2;
    report("alias_a1_region2_rbar", MPU_RBAR);
    MPU_RNR = 1;
    report("alias_a1_region1_rbar", MPU_RBAR);
    MPU_RNR = 5;
    MPU_RLAR_A3 = 0x200200E0u; /* EN clear */
    MPU_RNR = 0;
    report("alias_a3_region0_rlar", MPU_RLAR);
    MPU_RNR = 7;
    report("alias_a3_region7_rlar", MPU_RLAR);
    MPU_RNR = 6;
    MPU_RBAR = 0x20030000u | AP_RO;
    MPU_RNR = 4;
    report("alias_a2_read_rnr4", MPU_RBAR_A2);
    for (uint32_t region = 0; region < 8; region++) {
        MPU_RNR = region;
        MPU_RBAR = 0;
        MPU_RLAR = 0;
    }
}

int main(void)
{
    console_init();
    check_aliases();

    /* CPSID I in an SVC handler entered from Thread mode that dropped
     * privilege itself, as an RTOS starting its first task does. */
    __asm volatile("msr control, %0\n isb" : : "r"(1u) : "memory");
    __asm volatile("svc #1" ::: "memory");
    toggle_privilege();
    report("handler_primask", handler_primask);

    privileged_code[0] = 0x202Au; /* movs r0, #42 */
    privileged_code[1] = 0x4770u; /* bx lr */
    uint32_t code = (uint32_t)privileged_code;
    MPU_MAIR0 = 0x44u; /* normal memory, non-cacheable */
    set_region(0, 0x08000000u, 0x080FFFFFu, AP_RO);
    set_region(1, 0x20000000u, code - 1u, AP_RW | XN);
    set_region(2, code, code + 0x1Fu, AP_PRIV_RW);
    set_region(3, code + 0x20u, 0x2007FFFFu, AP_RW | XN);
    SCB_SHCSR |= SHCSR_MEMFAULTENA;
    MPU_CTRL = CTRL_ENABLE;
    __asm volatile("dsb\n isb" ::: "memory");

    /* Privileged, unprivileged and privileged again, through SVC returns. */
    toggle_privilege();
    toggle_privilege();
    report("exec_privileged", call_code(privileged_code));
    toggle_privilege();
    report("exec_unprivileged", call_code(privileged_code));
    report("exec_unprivileged_faults", mm_count);
    report("exec_unprivileged_cfsr", mm_cfsr);
    toggle_privilege();
    report("exec_privileged_again", call_code(privileged_code));
    privileged_code[0] = 0x202Bu; /* movs r0, #43 */
    __asm volatile("dsb\n isb" ::: "memory");
    report("exec_rewritten", call_code(privileged_code));

    /* UDF with UsageFault disabled escalates to HardFault, which ignores the
     * MPU while HFNMIENA is clear. */
    execute_never_code[0] = 0x202Cu; /* movs r0, #44 */
    execute_never_code[1] = 0x4770u; /* bx lr */
    __asm volatile("dsb\n isb" ::: "memory");
    uint32_t faults_before = mm_count;
    __asm volatile("udf #0" ::: "memory");
    report("exec_xn_in_hardfault", hardfault_result);
    report("exec_xn_after_hardfault", call_code(execute_never_code));
    report("exec_xn_after_hardfault_faults", mm_count - faults_before);

    /* The same with one read-write execute-never region over all of SRAM. */
    set_region(1, 0x20000000u, 0x2007FFFFu, AP_RW | XN);
    MPU_RNR = 2;
    MPU_RLAR = 0;
    MPU_RNR = 3;
    MPU_RLAR = 0;
    __asm volatile("dsb\n isb" ::: "memory");
    hardfault_result = 0;
    faults_before = mm_count;
    __asm volatile("udf #0" ::: "memory");
    report("exec_xn_whole_in_hardfault", hardfault_result);
    report("exec_xn_whole_after_hardfault", call_code(execute_never_code));
    report("exec_xn_whole_after_hardfault_faults", mm_count - faults_before);
    console_puts("hostile done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
