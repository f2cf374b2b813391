/* Native access check for the application's MPU (Armv8-M PMSAv8, 8 regions).
 *
 * Python strips the Unicorn page permissions of every flash and SRAM page
 * that some privilege level may not fully access (see machine/mpu.py), so
 * Unicorn calls `ov_mpu_prot_hook` for each access that needs a permission
 * the page lacks. The hook decides per access against the region table and
 * the current privilege. Returning 1 lets Unicorn 2.1.4 perform a read or a
 * fetch. A store to a page without write permission is discarded by Unicorn
 * even when the hook returns 1, so the hook stores an allowed write into
 * SRAM itself. Returning 0 ends `uc_emu_start` with UC_ERR_*_PROT at the
 * faulting instruction, and `violation` records for Python that the MPU
 * denied it.
 *
 * The hook must be registered before the machine's invalid-access hook:
 * Unicorn calls protection hooks in the order they were added and stops at
 * the first one that returns 1.
 *
 * NOTE: fetches are checked when a block is translated. A block that runs
 * on from an executable region into an execute-never one faults at the
 * first execute-never instruction before any instruction of it runs.
 */

#include <stdint.h>

typedef struct uc_struct uc_engine;
typedef int uc_err;

/* uc_mem_type values of the protection events (unicorn.h, 2.1.x). */
#define OV_MEM_WRITE_PROT 22
#define OV_MEM_READ_PROT 23
#define OV_MEM_FETCH_PROT 24

#define OV_MPU_REGIONS 8
#define OV_MPU_CTRL_ENABLE 1u
#define OV_MPU_CTRL_HFNMIENA 2u
#define OV_MPU_CTRL_PRIVDEFENA 4u
#define OV_RBAR_XN 1u
#define OV_RLAR_EN 1u
#define OV_GRANULE_MASK 0x1fu

#define OV_HARDFAULT 3u
#define OV_NMI 2u

/* UC_CTL_WRITE(UC_CTL_TB_REMOVE_CACHE, 2): drop translated blocks in [begin, end). */
#define OV_CTL_TB_REMOVE_CACHE ((1u << 30) | (2u << 26) | 9u)

/* Mirrors openvisor.machine.mpu.MpuState; keep the field order in sync. */
struct ov_mpu {
    uint32_t ctrl;                  /* MPU_CTRL: ENABLE, HFNMIENA, PRIVDEFENA */
    uint32_t rbar[OV_MPU_REGIONS];  /* BASE[31:5], SH, AP[2:1], XN */
    uint32_t rlar[OV_MPU_REGIONS];  /* LIMIT[31:5], AttrIndx, EN */
    uint8_t *sram;
    uint32_t sram_base;
    uint32_t sram_size;
    uint32_t flash_base;
    uint32_t flash_size;
    uc_err (*reg_read)(uc_engine *uc, int regid, void *value);
    int32_t reg_ipsr;
    int32_t reg_control;
    int32_t reg_faultmask;
    uint32_t violation;             /* 1 after a denied access, cleared by Python */
    uint32_t violation_type;        /* uc_mem_type of the denied access */
    uint32_t violation_address;
    uint32_t violation_size;
    uint64_t checks;                /* accesses decided by the hook since power-on */
    uc_err (*ctl)(uc_engine *uc, int control, ...);
};

/* Access kinds for ov_mpu_allows. */
enum { OV_READ = 0, OV_WRITE = 1, OV_FETCH = 2 };

/* Return whether the MPU lets one byte at `address` be accessed.
 *
 * Follows the Armv8-M MPU check: no enabled region hit uses the default
 * map only for privileged accesses with PRIVDEFENA set, two hits fault,
 * and one hit applies AP[2:1] and XN. Flash and SRAM are executable in
 * the default map.
 */
static int byte_allowed(const struct ov_mpu *mpu, uint32_t address, int kind, int privileged)
{
    int hits = 0;
    uint32_t rbar = 0;
    for (int i = 0; i < OV_MPU_REGIONS; i++) {
        uint32_t base, limit;
        if (!(mpu->rlar[i] & OV_RLAR_EN)) {
            continue;
        }
        base = mpu->rbar[i] & ~OV_GRANULE_MASK;
        limit = mpu->rlar[i] | OV_GRANULE_MASK;
        if (base <= address && address <= limit) {
            hits++;
            rbar = mpu->rbar[i];
        }
    }
    if (hits > 1) {
        return 0;
    }
    if (hits == 0) {
        return privileged && (mpu->ctrl & OV_MPU_CTRL_PRIVDEFENA);
    }
    uint32_t ap = (rbar >> 1) & 3u;
    int unprivileged_ok = ap == 1u || ap == 3u;
    if (!privileged && !unprivileged_ok) {
        return 0;
    }
    if (kind == OV_WRITE) {
        return ap == 0u || ap == 1u;
    }
    if (kind == OV_FETCH && (rbar & OV_RBAR_XN)) {
        return 0;
    }
    return 1;
}

/* Return whether the MPU lets an access of `size` bytes at `address` proceed.
 *
 * Regions have a 32-byte granule and accesses are at most 8 bytes, so the
 * first and the last byte decide. Exported for the Python stacking checks.
 */
int ov_mpu_allows(const struct ov_mpu *mpu, uint32_t address, uint32_t size, int kind,
                  int privileged)
{
    if (!(mpu->ctrl & OV_MPU_CTRL_ENABLE)) {
        return 1;
    }
    if (size == 0) {
        size = 1;
    }
    for (uint32_t offset = 0;; offset += 32) {
        if (offset >= size - 1) {
            return byte_allowed(mpu, address + size - 1, kind, privileged);
        }
        if (!byte_allowed(mpu, address + offset, kind, privileged)) {
            return 0;
        }
    }
}

static uint32_t read_register(struct ov_mpu *mpu, uc_engine *uc, int32_t regid)
{
    uint32_t value = 0;
    mpu->reg_read(uc, regid, &value);
    return value;
}

int ov_mpu_prot_hook(uc_engine *uc, int type, uint64_t address, int size, int64_t value,
                     void *user_data)
{
    struct ov_mpu *mpu = (struct ov_mpu *)user_data;
    uint32_t addr = (uint32_t)address;
    int in_sram = address >= mpu->sram_base && address - mpu->sram_base < mpu->sram_size;
    int in_flash = address >= mpu->flash_base && address - mpu->flash_base < mpu->flash_size;
    int kind;
    if (!(mpu->ctrl & OV_MPU_CTRL_ENABLE) || !(in_sram || in_flash)) {
        return 0; /* not an MPU matter: the invalid-access hook records it */
    }
    if (type == OV_MEM_WRITE_PROT) {
        kind = OV_WRITE;
    } else if (type == OV_MEM_FETCH_PROT) {
        kind = OV_FETCH;
    } else {
        kind = OV_READ;
    }
    mpu->checks++;

    /* Privileged: Handler mode or CONTROL.nPRIV clear. HardFault, NMI and
     * FAULTMASK run with the MPU disabled unless HFNMIENA is set. Unicorn
     * keys translated blocks by privilege and negative priority, so a block
     * they translate does not serve other privileged code. */
    uint32_t ipsr = read_register(mpu, uc, mpu->reg_ipsr) & 0x1ffu;
    int privileged = ipsr != 0 || !(read_register(mpu, uc, mpu->reg_control) & 1u);
    int allowed;
    if (!(mpu->ctrl & OV_MPU_CTRL_HFNMIENA)
        && (ipsr == OV_HARDFAULT || ipsr == OV_NMI
            || (privileged && (read_register(mpu, uc, mpu->reg_faultmask) & 1u)))) {
        allowed = 1;
    } else {
        allowed = ov_mpu_allows(mpu, addr, (uint32_t)size, kind, privileged);
    }
    if (!allowed) {
        mpu->violation = 1;
        mpu->violation_type = (uint32_t)type;
        mpu->violation_address = addr;
        mpu->violation_size = (uint32_t)size;
        return 0;
    }
    if (kind != OV_WRITE) {
        return 1;
    }
    if (!in_sram || address - mpu->sram_base + (uint64_t)size > mpu->sram_size) {
        return 0; /* a write to flash stays a crash */
    }
    /* Unicorn discards stores to pages without write permission. */
    uint64_t bits = (uint64_t)value;
    uint8_t *target = mpu->sram + (address - mpu->sram_base);
    for (int i = 0; i < size; i++) {
        target[i] = (uint8_t)(bits >> (8 * i));
    }
    /* This store bypasses Unicorn's self-modifying code detection, so drop
     * the blocks translated from the written bytes: a later branch there
     * runs the new instructions. The block running now is unaffected. */
    mpu->ctl(uc, (int)OV_CTL_TB_REMOVE_CACHE, address, address + (uint64_t)size);
    return 1;
}
