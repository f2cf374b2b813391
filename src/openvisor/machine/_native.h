/* Shared declarations of the native run loop: the core structure that
 * mirrors openvisor.machine._native.Core, register helpers and the
 * exception entry and return functions of _entry.c.
 */

#ifndef OV_NATIVE_H
#define OV_NATIVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct uc_struct uc_engine;
typedef int uc_err;

#define OV_CACHE_SIZE 4096u

/* Bits of ov_core.stop_flags. */
#define OV_STOP_DEADLINE 1u
#define OV_STOP_INTERRUPT 2u
#define OV_STOP_UNMASKED 4u
#define OV_STOP_MEMORY 8u
#define OV_STOP_SYSTICK 16u
#define OV_STOP_STORE 32u   /* ov_store_stop: PC at a store that pended an exception */
#define OV_STOP_IT_EXIT 64u /* ov_it_exit_hook: PC after an IT block whose store pended one */

#define OV_NEVER UINT64_MAX

#define OV_NO_PENDING 0x7fffffff
#define OV_NO_IT 0xffffffffu
#define OV_IT_EXITS 64u
#define OV_XPSR_IT ((3u << 25) | (0x3fu << 10))

/* QEMU exception numbers passed to the interrupt hook. */
#define OV_EXCP_SWI 2u
#define OV_EXCP_EXCEPTION_EXIT 8u

#define OV_NMI 2u
#define OV_SYSTICK 15u
#define OV_SVCALL 11u
#define OV_THREAD_PRIORITY 256

#define OV_CONTROL_NPRIV 1u
#define OV_CONTROL_SPSEL 2u
#define OV_CONTROL_FPCA 4u
#define OV_XPSR_ALIGN (1u << 9)
#define OV_XPSR_T (1u << 24)
#define OV_IPSR_MASK 0x1ffu
#define OV_EXC_RETURN_BASE 0xffffffa0u
#define OV_EXC_RETURN_SPSEL 4u
#define OV_EXC_RETURN_MODE 8u
#define OV_EXC_RETURN_FTYPE 0x10u
#define OV_EXC_RETURN_DCRS 0x20u
#define OV_EXC_RETURN_S 0x40u
#define OV_BASIC_FRAME 32u

/* Exception numbers are 0-140 (16 + the STM32U585's 125 IRQs). */
#define OV_EXCEPTIONS 141
#define OV_EXCEPTION_WORDS ((OV_EXCEPTIONS + 31) / 32)

#define OV_FPCCR_LSPACT 1u
#define OV_FPCCR_LSPEN (1u << 30)
#define OV_CONTROL_SFPA 8u
#define OV_EXTENDED_FRAME 0x68u

/* Indexes into ov_core.regids, filled with Unicorn register ids by Python. */
enum {
    OV_R0, OV_R1, OV_R2, OV_R3, OV_R12, OV_LR, OV_PC, OV_SP, OV_XPSR, OV_XPSR_NZCVQG,
    OV_IPSR, OV_CONTROL, OV_MSP, OV_PSP, OV_PRIMASK, OV_BASEPRI, OV_FAULTMASK, OV_S0,
    OV_FPSCR = OV_S0 + 16, OV_APSR_NZCV, OV_REG_COUNT
};

/* Mirrors openvisor.machine._native.Core, so keep the field order in sync. */
struct ov_core {
    uint64_t count;        /* instructions executed since power-on */
    uint64_t deadline;     /* stop at the first block boundary with count >= deadline */
    uint32_t stop_flags;   /* OV_STOP_* reasons of the last stop */
    uint32_t intno;        /* QEMU exception number of the last interrupt hook */
    int32_t pending_prio;  /* group priority of the best pending exception, or 0x7fffffff */
    int32_t active_prio;   /* execution priority from active exceptions alone (256: none) */
    uint32_t group_mask;   /* AIRCR.PRIGROUP mask applied to BASEPRI */
    uint32_t counting;     /* 0 while single-stepping: Python counts the one instruction */
    uint32_t mem_type;     /* uc_mem_type of the last invalid access */
    uint32_t mem_size;
    uint64_t mem_address;
    const uint8_t *flash;
    uint32_t flash_base;
    uint32_t flash_size;
    const uint8_t *sram;
    uint32_t sram_base;
    uint32_t sram_size;
    uc_err (*emu_stop)(uc_engine *uc);
    uc_err (*reg_read)(uc_engine *uc, int regid, void *value);
    int32_t reg_primask;
    int32_t reg_basepri;
    int32_t reg_faultmask;
    uint32_t block_count;  /* instructions of the last counted block */
    uint64_t block_address; /* start of the last counted block */
    uc_err (*emu_start)(uc_engine *uc, uint64_t begin, uint64_t until, uint64_t timeout,
                        size_t count);
    uc_err (*reg_write)(uc_engine *uc, int regid, const void *value);
    int32_t regids[OV_REG_COUNT];
    /* State that Python publishes before ov_run, and that ov_run keeps. */
    uint32_t native;        /* 1: ov_run may take exception entries and returns */
    uint32_t resync;        /* set by Python during a run: ov_run leaves the next stop to Python */
    uint32_t vtor;
    uint32_t sleep_on_exit; /* SCR.SLEEPONEXIT */
    uint32_t ccr;           /* CCR, whose bit 0 is NONBASETHRDENA */
    uint32_t fpccr;         /* FPCCR: ov_run sets LSPACT on entry with an FP frame */
    uint32_t fpcar;         /* FPCAR: ov_run sets it with LSPACT */
    uint32_t nvic_changed;  /* ov_run changed active, pending or FP state: Python applies it */
    uint32_t gateway_base;
    uint32_t gateway_size;
    uint32_t stop_pc;        /* PC after the last interrupt stop of ov_run */
    uint64_t native_entries; /* exception entries taken by ov_run */
    uint64_t native_returns; /* exception returns taken by ov_run */
    uint32_t pending_exc;       /* the best pending exception (priority pending_prio), 0: none */
    int32_t next_pending_prio;  /* group priority of the best pending one after pending_exc */
    uint32_t limits_valid;      /* msplim and psplim contain the core's current stack limits */
    uint32_t msplim;
    uint32_t psplim;
    uint32_t pending[OV_EXCEPTION_WORDS]; /* pending exceptions */
    uint32_t enabled[OV_EXCEPTION_WORDS]; /* exceptions that may be taken when pending */
    uint32_t active[OV_EXCEPTION_WORDS];  /* active exceptions */
    int32_t priority[OV_EXCEPTIONS];      /* group priority of every exception */
    int32_t order[OV_EXCEPTIONS];         /* full priority (group, then subpriority) */
    /* While systick_next is not OV_NEVER, ov_run pends SysTick itself when the
     * count reaches it and moves it on by systick_period (0: no later wrap). */
    uint64_t systick_next;
    uint64_t systick_period;
    uint64_t systick_wraps;  /* SysTick wraps pended by ov_run */
    /* Direct-mapped cache of flash block instruction counts, indexed by
     * address / 2. Each entry holds a block's address, size and count
     * (_native.c). Flash changes only when an image is loaded, which
     * clears the cache. SRAM blocks are always decoded. */
    uint64_t cache_entries[OV_CACHE_SIZE];
    /* External interrupts whose level-sensitive line is asserted: a return
     * from one of them pends it again (Nvic.deactivate). */
    uint32_t levels[OV_EXCEPTION_WORDS];
    /* Stops right after a store that pends an exception (_store.c). */
    uint32_t store_address;    /* the write that requested the stop */
    uint32_t store_unverified; /* stops whose instruction was not the expected store */
    uint64_t store_stops;      /* stores completed by ov_complete_store */
    int32_t gpr_ids[16];       /* Unicorn register ids of R0-R15 */
    /* Cycles counted ahead of execution: `count` minus the instructions
     * really executed. The next blocks use it up before the count grows,
     * so the count never goes back below a time that an MMIO access saw. */
    uint64_t credit;
    uint64_t block_credit;  /* credit that the last counted block used */
    /* The last SRAM block contained an IT or began up to 16 bytes after one. */
    uint32_t sram_block_it;
    /* The start address of the current uc_emu_start if it began in an IT
     * block, else OV_NO_IT. */
    uint32_t it_resume_pc;
    /* The instruction after an IT block to stop before, or OV_NO_IT. */
    uint32_t it_exit_pc;
    /* Instructions after an IT block that have a stop hook (ov_it_exit_hook).
     * Python adds one when ov_store_stop requests it in it_exit_request. */
    uint32_t it_exits[OV_IT_EXITS];
    uint32_t it_exit_count;
    uint32_t it_exit_request; /* 0: none; else ov_run returns at its next stop */
};

static inline uint32_t reg_get(struct ov_core *core, uc_engine *uc, int index)
{
    uint32_t value = 0;
    core->reg_read(uc, core->regids[index], &value);
    return value;
}

static inline void reg_set(struct ov_core *core, uc_engine *uc, int index, uint32_t value)
{
    core->reg_write(uc, core->regids[index], &value);
}

/* Exception entry and return (_entry.c). Each ov_take_* and
 * ov_return_from_exception returns 0, changing nothing, for every case it
 * leaves to the Python model. */
uint32_t ov_count_thumb(const uint8_t *p, uint32_t size);
int ov_pending_preempts(struct ov_core *core, uc_engine *uc);
int ov_complete_store(struct ov_core *core, uc_engine *uc);
void ov_credit_rest(struct ov_core *core, uint32_t next);
uint32_t ov_contains_it(const uint8_t *p, uint32_t size);

void ov_update_pending(struct ov_core *core);
uint32_t ov_update_active_priority(struct ov_core *core);
void ov_pend_systick(struct ov_core *core);
int ov_take_svcall(struct ov_core *core, uc_engine *uc, uint32_t return_address);
int ov_take_pending_at(struct ov_core *core, uc_engine *uc, uint32_t return_address);
int ov_return_from_exception(struct ov_core *core, uc_engine *uc, uint32_t exc_return);

#endif
