/* Gateway calls: branches into the call gateway the way SDK code does,
 * printing each returned status; the host's handler serves them. The last
 * call targets 0x0C1FE0A0, an entry without a call, and must crash. */

#include "bm_io.h"

typedef uint32_t (*call1_t)(uint32_t);
typedef uint32_t (*call2_t)(uint32_t, uint32_t);

#define GET_MICROSECONDS ((call1_t)(0x0C1FE010u | 1u))
#define GET_DEVICE_ID ((call2_t)(0x0C1FE028u | 1u))
#define NO_OP ((call1_t)(0x0C1FE0D8u | 1u))
#define EMPTY_ENTRY ((call1_t)(0x0C1FE0A0u | 1u))

static uint64_t micros;
static uint8_t device_id[8];

int main(void)
{
    console_init();
    uint32_t r4_before = 0x1234u;
    uint32_t status = GET_MICROSECONDS((uint32_t)&micros);
    console_kv("micros_status", status);
    console_kv("micros", (uint32_t)micros);
    status = GET_DEVICE_ID((uint32_t)device_id, sizeof(device_id));
    console_kv("id_status", status);
    console_kv("id0", device_id[0]);
    console_kv("noop_status", NO_OP(0));
    console_kv("r4_kept", r4_before == 0x1234u);
    console_puts("calling empty entry\n");
    EMPTY_ENTRY(0);
    console_puts("not reached\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
