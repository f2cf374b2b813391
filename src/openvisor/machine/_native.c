/* Native Unicorn hooks for the openvisor virtual clock.
 *
 * A Python hook that fires on every translated block cuts throughput about
 * 50-fold (about 18 MIPS), so the per-block work is done here. The block
 * hook counts the instructions of each block as it starts, stops emulation
 * at the next timer deadline, and stops as soon as a pending exception
 * becomes unmasked. Python reads the shared `ov_core` structure after
 * `uc_emu_start` returns.
 *
 * The hooks take no Unicorn headers: the few types they need are declared
 * below, and Unicorn functions arrive as pointers in `ov_core`.
 */

#include <stdint.h>

typedef struct uc_struct uc_engine;
typedef int uc_err;

#define OV_CACHE_SIZE 4096u

/* Bits of ov_core.stop_flags. */
#define OV_STOP_DEADLINE 1u
#define OV_STOP_INTERRUPT 2u
#define OV_STOP_UNMASKED 4u
#define OV_STOP_MEMORY 8u

/* Mirrors openvisor.machine._native.Core; keep the field order in sync. */
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
    /* Direct-mapped cache of flash block sizes: key (address << 12 | size)
     * to instruction count. Flash changes only when an image is loaded,
     * which clears the cache; SRAM blocks are always decoded. */
    uint64_t cache_keys[OV_CACHE_SIZE];
    uint16_t cache_counts[OV_CACHE_SIZE];
};

/* Count Thumb instructions in [p, p + size): a halfword whose top five bits
 * are 0b11101, 0b11110 or 0b11111 starts a 32-bit instruction. */
static uint32_t count_thumb(const uint8_t *p, uint32_t size)
{
    uint32_t n = 0;
    uint32_t offset = 0;
    while (offset + 1 < size) {
        uint16_t half = (uint16_t)(p[offset] | (p[offset + 1] << 8));
        offset += ((half >> 11) >= 0x1d) ? 4u : 2u;
        n++;
    }
    return n;
}

static uint32_t block_instructions(struct ov_core *core, uint32_t address, uint32_t size)
{
    uint32_t offset = address - core->flash_base;
    if (offset < core->flash_size && size <= core->flash_size - offset) {
        uint64_t key = ((uint64_t)address << 12) | (size & 0xfffu);
        uint32_t slot = (address >> 1) & (OV_CACHE_SIZE - 1u);
        if (core->cache_keys[slot] == key) {
            return core->cache_counts[slot];
        }
        uint32_t n = count_thumb(core->flash + offset, size);
        core->cache_keys[slot] = key;
        core->cache_counts[slot] = (uint16_t)n;
        return n;
    }
    offset = address - core->sram_base;
    if (offset < core->sram_size && size <= core->sram_size - offset) {
        return count_thumb(core->sram + offset, size);
    }
    /* Code elsewhere (the call gateway stubs) is 16-bit only. */
    return (size + 1) / 2;
}

/* Return 1 when the best pending exception now preempts: its group
 * priority is above the execution priority given by the active
 * exceptions, BASEPRI, PRIMASK and FAULTMASK (ARMv8-M ExecutionPriority). */
static int pending_preempts(struct ov_core *core, uc_engine *uc)
{
    uint32_t primask = 0;
    uint32_t basepri = 0;
    uint32_t faultmask = 0;
    int32_t priority = core->active_prio;

    core->reg_read(uc, core->reg_faultmask, &faultmask);
    if (faultmask & 1u) {
        priority = -1;
    }
    core->reg_read(uc, core->reg_primask, &primask);
    if ((primask & 1u) && priority > 0) {
        priority = 0;
    }
    core->reg_read(uc, core->reg_basepri, &basepri);
    basepri &= 0xffu;
    if (basepri != 0) {
        int32_t boost = (int32_t)(basepri & core->group_mask);
        if (boost < priority) {
            priority = boost;
        }
    }
    return core->pending_prio < priority;
}

void ov_block_hook(uc_engine *uc, uint64_t address, uint32_t size, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;

    if (!core->counting) {
        return;
    }
    /* Stopping here keeps the block from running, so time stays exact. */
    if (core->count >= core->deadline) {
        core->stop_flags |= OV_STOP_DEADLINE;
        core->emu_stop(uc);
        return;
    }
    if (core->pending_prio < core->active_prio && pending_preempts(core, uc)) {
        core->stop_flags |= OV_STOP_UNMASKED;
        core->emu_stop(uc);
        return;
    }
    core->block_address = address;
    core->block_count = block_instructions(core, (uint32_t)address, size);
    core->count += core->block_count;
}

void ov_interrupt_hook(uc_engine *uc, uint32_t intno, void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    core->stop_flags |= OV_STOP_INTERRUPT;
    core->intno = intno;
    core->emu_stop(uc);
}

/* UC_HOOK_MEM_INVALID: record the access and let Unicorn end the run. */
int ov_invalid_hook(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                    void *user_data)
{
    struct ov_core *core = (struct ov_core *)user_data;
    (void)uc;
    (void)value;
    core->stop_flags |= OV_STOP_MEMORY;
    core->mem_type = (uint32_t)type;
    core->mem_address = address;
    core->mem_size = (uint32_t)size;
    return 0;
}
