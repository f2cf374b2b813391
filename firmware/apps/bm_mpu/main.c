/* MPU checks (Armv8-M PMSAv8, non-secure MPU), each printing one console line.
 *
 * Regions: flash read-only and executable for all; SRAM below and above a
 * 4 KiB test page read-write and execute-never for all. Inside the test
 * page: a 32-byte guard with no region at offset 0, a read-write
 * execute-never region, a read-only region, a privileged-only region and
 * an executable region. Thread mode then drops privilege and probes each
 * region; privileged accesses go through SVC calls. MemManage records
 * CFSR, MMFAR and the stacked PC, then skips the faulting 16-bit
 * instruction (or returns to the caller after a denied fetch). The last
 * check stacks an exception frame into the guard (MSTKERR) and prints
 * "mpu done".
 */

#include "bm_io.h"

#define SCB_SHPR2 REG32(0xE000ED1Cu)
#define SCB_MMFAR REG32(0xE000ED34u)
#define MPU_TYPE REG32(0xE000ED90u)
#define MPU_CTRL REG32(0xE000ED94u)
#define MPU_RNR REG32(0xE000ED98u)
#define MPU_RBAR REG32(0xE000ED9Cu)
#define MPU_RLAR REG32(0xE000EDA0u)
#define MPU_MAIR0 REG32(0xE000EDC0u)

#define CTRL_ENABLE 1u
#define CTRL_PRIVDEFENA 4u
#define SHCSR_MEMFAULTENA (1u << 16)
#define CFSR_MSTKERR (1u << 4)
#define CFSR_IACCVIOL 1u

/* RBAR access permissions AP[2:1] and execute-never. */
#define AP_PRIV_RW (0u << 1)
#define AP_RW (1u << 1)
#define AP_RO (3u << 1)
#define XN 1u

#define NOT_WRITTEN 0xDEADBEEFu

static uint8_t test_page[4096] __attribute__((aligned(4096)));
#define GUARD ((uint32_t)test_page)
#define OPEN (GUARD + 0x20u)       /* read-write, execute-never */
#define READ_ONLY (GUARD + 0x400u) /* read-only for all */
#define PRIVILEGED (GUARD + 0x800u)
#define EXECUTABLE (GUARD + 0xC00u)

static volatile uint32_t mm_count;
static volatile uint32_t mm_cfsr;
static volatile uint32_t mm_mmfar;
static volatile uint32_t mm_pc;
static volatile uint32_t hf_count;
static volatile uint32_t hf_hfsr;
static volatile uint32_t hf_cfsr;

/* 16-bit loads and stores, so a handler can skip them by 2 bytes. */
static inline __attribute__((always_inline)) uint32_t load(uint32_t address)
{
    register uint32_t value __asm("r0") = NOT_WRITTEN;
    register uint32_t pointer __asm("r1") = address;
    __asm volatile("ldr r0, [r1]" : "+r"(value) : "r"(pointer) : "memory");
    return value;
}

/* Load `first`, then `second` in the next instruction; return the second. */
static inline __attribute__((always_inline)) uint32_t load_after(uint32_t first, uint32_t second)
{
    register uint32_t value __asm("r0") = NOT_WRITTEN;
    register uint32_t pointer __asm("r1") = second;
    register uint32_t other __asm("r3") = first;
    register uint32_t scratch __asm("r2");
    __asm volatile("ldr r2, [r3]\n ldr r0, [r1]"
                   : "+r"(value), "=r"(scratch)
                   : "r"(pointer), "r"(other)
                   : "memory");
    return value;
}

/* Store `value` to `first`, then to `second` in the next instruction. */
static inline __attribute__((always_inline)) void store_after(uint32_t first, uint32_t second,
                                                              uint32_t value)
{
    register uint32_t data __asm("r0") = value;
    register uint32_t pointer __asm("r1") = second;
    register uint32_t other __asm("r3") = first;
    __asm volatile("str r0, [r3]\n str r0, [r1]" : : "r"(data), "r"(pointer), "r"(other)
                   : "memory");
}

static inline __attribute__((always_inline)) void store(uint32_t address, uint32_t value)
{
    register uint32_t data __asm("r0") = value;
    register uint32_t pointer __asm("r1") = address;
    __asm volatile("str r0, [r1]" : : "r"(data), "r"(pointer) : "memory");
}

static void set_region(uint32_t number, uint32_t base, uint32_t last, uint32_t attributes)
{
    MPU_RNR = number;
    MPU_RBAR = (base & ~0x1Fu) | attributes;
    MPU_RLAR = (last & ~0x1Fu) | 1u; /* AttrIndx 0, EN */
}

/* SVC #0: read r0 privileged; #1: write r1 to r0; #2: MPU_CTRL = r0;
 * #3: SHCSR = r0; #4: region r0 = (r1 RBAR, r2 RLAR); #5: privileged
 * Thread mode (clear CONTROL.nPRIV). */
void svc_dispatch(uint32_t *frame)
{
    uint32_t number = *(uint16_t *)(frame[6] - 2u) & 0xFFu;
    switch (number) {
    case 0:
        frame[0] = load(frame[0]);
        break;
    case 1:
        store(frame[0], frame[1]);
        break;
    case 2:
        MPU_CTRL = frame[0];
        break;
    case 3:
        SCB_SHCSR = frame[0];
        break;
    case 4:
        MPU_RNR = frame[0];
        MPU_RBAR = frame[1];
        MPU_RLAR = frame[2];
        break;
    case 5:
        __asm volatile("msr control, %0" : : "r"(0u) : "memory");
        break;
    default:
        break;
    }
    __asm volatile("dsb\n isb" ::: "memory");
}

BM_FRAME_HANDLER(SVC_Handler, svc_dispatch)

static uint32_t svc_read(uint32_t address)
{
    register uint32_t r0 __asm("r0") = address;
    __asm volatile("svc #0" : "+r"(r0) : : "memory");
    return r0;
}

static void svc_call2(uint32_t a, uint32_t b)
{
    register uint32_t r0 __asm("r0") = a;
    register uint32_t r1 __asm("r1") = b;
    __asm volatile("svc #1" : "+r"(r0) : "r"(r1) : "memory");
}

static void svc_mpu_ctrl(uint32_t value)
{
    register uint32_t r0 __asm("r0") = value;
    __asm volatile("svc #2" : "+r"(r0) : : "memory");
}

static void svc_shcsr(uint32_t value)
{
    register uint32_t r0 __asm("r0") = value;
    __asm volatile("svc #3" : "+r"(r0) : : "memory");
}

static void svc_region(uint32_t number, uint32_t rbar, uint32_t rlar)
{
    register uint32_t r0 __asm("r0") = number;
    register uint32_t r1 __asm("r1") = rbar;
    register uint32_t r2 __asm("r2") = rlar;
    __asm volatile("svc #4" : "+r"(r0) : "r"(r1), "r"(r2) : "memory");
}

static void report_fault(const char *name)
{
    console_puts(name);
    console_puts(" count=");
    console_putu(mm_count);
    console_puts(" cfsr=");
    console_puthex(mm_cfsr);
    console_puts(" mmfar=");
    console_puthex(mm_mmfar);
    console_puts(" pc=");
    console_puthex(mm_pc);
    console_puts("\n");
    mm_count = 0;
    mm_cfsr = 0;
    mm_mmfar = 0;
    mm_pc = 0;
}

static void report_value(const char *name, uint32_t value)
{
    console_puts(name);
    console_puts("=");
    console_puthex(value);
    console_puts("\n");
}

void memmanage_dispatch(uint32_t *frame)
{
    uint32_t cfsr = SCB_CFSR;
    mm_count++;
    mm_cfsr = cfsr;
    mm_mmfar = SCB_MMFAR;
    SCB_CFSR = cfsr & 0xFFu;
    if (cfsr & CFSR_MSTKERR) {
        /* No frame was written: report and stop here. */
        report_fault("stacking");
        console_puts("mpu done\n");
        for (;;) {
            __asm volatile("wfi");
        }
    }
    mm_pc = frame[6];
    if (cfsr & CFSR_IACCVIOL) {
        frame[6] = frame[5] & ~1u; /* return to the caller */
    } else {
        frame[6] += 2u;
    }
}

BM_FRAME_HANDLER(MemManage_Handler, memmanage_dispatch)

void hardfault_dispatch(uint32_t *frame)
{
    hf_count++;
    hf_hfsr = SCB_HFSR;
    hf_cfsr = SCB_CFSR;
    mm_mmfar = SCB_MMFAR;
    SCB_HFSR = hf_hfsr;
    SCB_CFSR = hf_cfsr;
    frame[6] += 2u;
}

BM_FRAME_HANDLER(HardFault_Handler, hardfault_dispatch)

typedef uint32_t (*function_t)(void);

int main(void)
{
    console_init();
    report_value("mpu_type", MPU_TYPE);
    report_value("guard", GUARD);

    /* movs r0, #42; bx lr, in an execute-never and in an executable region. */
    volatile uint16_t *code = (volatile uint16_t *)(OPEN + 0xE0u);
    code[0] = 0x202Au;
    code[1] = 0x4770u;
    code = (volatile uint16_t *)EXECUTABLE;
    code[0] = 0x202Au;
    code[1] = 0x4770u;
    store(OPEN, 0x11111111u);
    store(READ_ONLY, 0x22222222u);
    store(PRIVILEGED, 0x33333333u);
    store(GUARD, 0x44444444u);

    SCB_SHPR2 = 0x80u << 24; /* SVCall below MemManage (priority 0) */
    MPU_MAIR0 = 0x44u;       /* normal memory, non-cacheable */
    set_region(0, 0x08000000u, 0x080FFFFFu, AP_RO);
    set_region(1, 0x20000000u, GUARD - 1u, AP_RW | XN);
    set_region(2, OPEN, READ_ONLY - 1u, AP_RW | XN);
    set_region(3, READ_ONLY, PRIVILEGED - 1u, AP_RO | XN);
    set_region(4, PRIVILEGED, EXECUTABLE - 1u, AP_PRIV_RW | XN);
    set_region(5, EXECUTABLE, GUARD + 0xFFFu, AP_RW);
    set_region(6, GUARD + 0x1000u, 0x2007FFFFu, AP_RW | XN);
    SCB_SHCSR |= SHCSR_MEMFAULTENA;
    MPU_CTRL = CTRL_ENABLE;
    __asm volatile("dsb\n isb" ::: "memory");
    __asm volatile("msr control, %0\n isb" : : "r"(1u) : "memory"); /* unprivileged */

    report_value("read_guard_value", load(GUARD));
    report_fault("read_guard");
    store(GUARD, 0x55555555u);
    report_fault("write_guard");
    report_value("read_open", load(OPEN));
    store(OPEN + 4u, 0x66666666u);
    report_value("read_open_written", load(OPEN + 4u));
    report_fault("open");
    /* The guard right after an allowed read of the same page. */
    report_value("read_guard_again_value", load_after(OPEN, GUARD));
    report_fault("read_guard_again");
    store_after(OPEN + 8u, GUARD, 0xABABABABu);
    report_value("open_after_store", load(OPEN + 8u));
    report_fault("write_guard_again");
    report_value("read_only_value", load(READ_ONLY));
    store(READ_ONLY, 0x77777777u);
    report_fault("write_read_only");
    report_value("read_privileged_value", load(PRIVILEGED));
    report_fault("read_privileged");
    report_value("svc_read_privileged", svc_read(PRIVILEGED));
    report_fault("svc_privileged");
    svc_call2(READ_ONLY, 0x88888888u);
    report_fault("svc_write_read_only");
    report_value("call_executable", ((function_t)(EXECUTABLE | 1u))());
    report_fault("executable");
    ((function_t)((OPEN + 0xE0u) | 1u))();
    report_fault("call_execute_never");

    /* Privileged access to the guard: the default map with PRIVDEFENA. */
    report_value("svc_read_guard", svc_read(GUARD));
    report_fault("svc_guard");
    svc_mpu_ctrl(CTRL_ENABLE | CTRL_PRIVDEFENA);
    report_value("svc_read_guard_privdefena", svc_read(GUARD));
    report_fault("svc_guard_privdefena");
    svc_mpu_ctrl(CTRL_ENABLE);

    /* Overlapping enabled regions fault wherever they overlap. */
    svc_region(7, OPEN | AP_RW | XN, (OPEN + 0x20u) | 1u);
    report_value("read_overlap_value", load(OPEN));
    report_fault("read_overlap");
    svc_region(7, 0, 0);

    /* MemManage disabled: the fault escalates to HardFault (FORCED). */
    svc_shcsr(0);
    load(GUARD);
    report_value("hardfault_count", hf_count);
    report_value("hardfault_hfsr", hf_hfsr);
    report_value("hardfault_cfsr", hf_cfsr);
    report_value("hardfault_mmfar", mm_mmfar);
    svc_shcsr(SHCSR_MEMFAULTENA);
    mm_mmfar = 0;

    /* MPU disabled: nothing faults. */
    svc_mpu_ctrl(0);
    report_value("disabled_read_guard", load(GUARD));
    store(READ_ONLY, 0x99999999u);
    report_value("disabled_read_only", load(READ_ONLY));
    report_fault("disabled");
    svc_mpu_ctrl(CTRL_ENABLE);

    /* An SVC from unprivileged Thread mode on a PSP just above the guard:
     * its frame would land in the guard (MSTKERR). */
    __asm volatile("svc #5" ::: "memory");
    __asm volatile(
        "msr psp, %0\n"
        "msr control, %1\n"
        "isb\n"
        "svc #0\n" : : "r"(OPEN), "r"(3u) : "memory");
    console_puts("stacking not detected\n");
    for (;;) {
    }
}
