/* Native memory hook for CCR.UNALIGN_TRP.
 *
 * A Python memory hook costs about 1 µs per load and store: it slowed the
 * CPU-bound benchmark image about 40-fold in one measurement, so the
 * alignment check runs here.
 * At the first access whose address is not a multiple of its size the hook
 * records it and stops emulation: Unicorn then abandons the instruction with
 * its registers unchanged and PC at it. A store has already written memory
 * by then, so the hook keeps the bytes it overwrote in SRAM for Python to
 * put back (openvisor.machine.traps).
 */

#include <stdint.h>
#include <string.h>

typedef struct uc_struct uc_engine;
typedef int uc_err;

#define OV_MEM_WRITE 17

/* Mirrors openvisor.machine.traps.AlignState, so keep the field order in sync. */
struct ov_align {
    uint32_t stopped; /* 1 from a stop until Python collects it */
    uint32_t type;    /* uc_mem_type of the access */
    uint64_t address;
    uint32_t size;
    uint32_t saved; /* 1: `old` contains the SRAM bytes the store overwrote */
    uint8_t old[8];
    uint8_t *sram;
    uint32_t sram_base;
    uint32_t sram_size;
    uc_err (*emu_stop)(uc_engine *uc);
};

void ov_align_hook(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                   void *user_data)
{
    struct ov_align *align = (struct ov_align *)user_data;
    (void)value;
    if (size <= 1 || (address & (uint64_t)(size - 1)) == 0 || align->stopped) {
        return;
    }
    align->stopped = 1;
    align->type = (uint32_t)type;
    align->address = address;
    align->size = (uint32_t)size;
    align->saved = 0;
    uint64_t offset = address - align->sram_base;
    if (type == OV_MEM_WRITE && address >= align->sram_base && size <= 8 &&
        offset + (uint64_t)size <= align->sram_size) {
        memcpy(align->old, align->sram + offset, (size_t)size);
        align->saved = 1;
    }
    align->emu_stop(uc);
}
