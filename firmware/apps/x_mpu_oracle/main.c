/* Random MPU access sequences that the host checks against the PMSAv8 rules.
 *
 * The host writes a request block at 0x2007_0000 (struct oracle_request)
 * after reset: MPU_CTRL, the eight regions, the starting privilege and a
 * list of operations. Regions 6 and 7 must let every privilege level run
 * this image's flash and use the block and the main stack. Each operation
 * is a 16-bit load, store or byte load at an address, a call of a `bx lr`
 * there, an SVC that toggles CONTROL.nPRIV, or an SVC that toggles
 * MPU_CTRL.ENABLE. The MemManage handler records CFSR (with bit 20 set)
 * as the operation's result and skips it, so a result of 0 means the
 * access was allowed. All state lives in the block, because the handlers
 * run under the same regions. `done` becomes 0xC0FFEE at the end.
 */

#include "bm_io.h"

#define MPU_CTRL REG32(0xE000ED94u)
#define MPU_RNR REG32(0xE000ED98u)
#define MPU_RBAR REG32(0xE000ED9Cu)
#define MPU_RLAR REG32(0xE000EDA0u)

#define SHCSR_MEMFAULTENA (1u << 16)
#define CFSR_IACCVIOL 1u
#define RESULT_FAULTED (1u << 20)
#define MAX_OPS 192u
#define STORED_VALUE 0x47704770u /* bx lr; bx lr, so stored bytes stay code */

enum { OP_LOAD, OP_STORE, OP_LOAD_BYTE, OP_CALL, OP_TOGGLE_PRIVILEGE, OP_TOGGLE_MPU };

struct oracle_op {
    uint32_t kind;
    uint32_t address;
};

struct oracle_request {
    uint32_t count;
    uint32_t ctrl;
    uint32_t unprivileged;
    uint32_t done;
    uint32_t rbar[8];
    uint32_t rlar[8];
    uint32_t index; /* the operation running now */
    uint32_t reserved[3]; /* ops start at offset 0x60 */
    struct oracle_op ops[MAX_OPS];
    uint32_t results[MAX_OPS];
};

#define REQUEST ((volatile struct oracle_request *)0x20070000u)

void svc_dispatch(uint32_t *frame)
{
    uint32_t number = *(uint16_t *)(frame[6] - 2u) & 0xFFu;
    if (number == 0) {
        uint32_t control;
        __asm volatile("mrs %0, control" : "=r"(control));
        __asm volatile("msr control, %0\n isb" : : "r"(control ^ 1u) : "memory");
    } else {
        MPU_CTRL ^= 1u;
        __asm volatile("dsb\n isb" ::: "memory");
    }
}

BM_FRAME_HANDLER(SVC_Handler, svc_dispatch)

void memmanage_dispatch(uint32_t *frame)
{
    uint32_t cfsr = SCB_CFSR;
    SCB_CFSR = cfsr & 0xFFu;
    REQUEST->results[REQUEST->index] = cfsr | RESULT_FAULTED;
    if (cfsr & CFSR_IACCVIOL) {
        frame[6] = frame[5] & ~1u; /* return to the caller */
    } else {
        frame[6] += 2u; /* skip the 16-bit access */
    }
}

BM_FRAME_HANDLER(MemManage_Handler, memmanage_dispatch)

static void run_op(uint32_t kind, uint32_t address)
{
    register uint32_t value __asm("r0") = STORED_VALUE;
    register uint32_t pointer __asm("r1") = address;
    switch (kind) {
    case OP_LOAD:
        __asm volatile("ldr r0, [r1]" : "+r"(value) : "r"(pointer) : "memory");
        break;
    case OP_STORE:
        __asm volatile("str r0, [r1]" : : "r"(value), "r"(pointer) : "memory");
        break;
    case OP_LOAD_BYTE:
        __asm volatile("ldrb r0, [r1]" : "+r"(value) : "r"(pointer) : "memory");
        break;
    case OP_CALL:
        pointer |= 1u;
        __asm volatile("blx r1" : "+r"(value), "+r"(pointer) : : "r2", "r3", "r12", "lr",
                       "memory");
        break;
    case OP_TOGGLE_PRIVILEGE:
        __asm volatile("svc #0" ::: "memory");
        break;
    default:
        __asm volatile("svc #1" ::: "memory");
        break;
    }
}

int main(void)
{
    volatile struct oracle_request *request = REQUEST;
    SCB_SHCSR |= SHCSR_MEMFAULTENA;
    for (uint32_t region = 0; region < 8; region++) {
        MPU_RNR = region;
        MPU_RBAR = request->rbar[region];
        MPU_RLAR = request->rlar[region];
    }
    MPU_CTRL = request->ctrl;
    __asm volatile("dsb\n isb" ::: "memory");
    if (request->unprivileged) {
        __asm volatile("msr control, %0\n isb" : : "r"(1u) : "memory");
    }
    uint32_t count = request->count < MAX_OPS ? request->count : MAX_OPS;
    for (uint32_t i = 0; i < count; i++) {
        request->index = i;
        run_op(request->ops[i].kind, request->ops[i].address);
    }
    request->done = 0xC0FFEEu;
    for (;;) {
        __asm volatile("wfi");
    }
}
