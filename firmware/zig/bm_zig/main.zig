//! Bare-metal Zig image for the virtual STM32U585: its own vector table and
//! startup, a SysTick tick counter, a blinking user LED (PA5) and console
//! output on USART2. Prints "zig fib=46368", "zig ticks=3", then "zig done".

const Handler = *const fn () callconv(.c) void;

const VectorTable = extern struct {
    initial_sp: *const anyopaque,
    reset: Handler,
    nmi: Handler,
    hard_fault: Handler,
    mem_manage: Handler,
    bus_fault: Handler,
    usage_fault: Handler,
    secure_fault: Handler,
    reserved: [3]usize = .{ 0, 0, 0 },
    svcall: Handler,
    debug_monitor: Handler,
    reserved2: usize = 0,
    pendsv: Handler,
    systick: Handler,
};

extern const _estack: anyopaque;
extern var _sidata: u8;
extern var _sdata: u8;
extern var _edata: u8;
extern var _sbss: u8;
extern var _ebss: u8;

export const vector_table linksection(".isr_vector") = VectorTable{
    .initial_sp = &_estack,
    .reset = Reset_Handler,
    .nmi = defaultHandler,
    .hard_fault = defaultHandler,
    .mem_manage = defaultHandler,
    .bus_fault = defaultHandler,
    .usage_fault = defaultHandler,
    .secure_fault = defaultHandler,
    .svcall = defaultHandler,
    .debug_monitor = defaultHandler,
    .pendsv = defaultHandler,
    .systick = sysTickHandler,
};

fn reg(address: usize) *volatile u32 {
    return @ptrFromInt(address);
}

const rcc_ahb2enr1 = 0x4602_0C8C;
const rcc_apb1enr1 = 0x4602_0C9C;
const gpioa_moder = 0x4202_0000;
const gpioa_bsrr = 0x4202_0018;
const usart2_cr1 = 0x4000_4400;
const usart2_brr = 0x4000_440C;
const usart2_isr = 0x4000_441C;
const usart2_tdr = 0x4000_4428;
const syst_csr = 0xE000_E010;
const syst_rvr = 0xE000_E014;
const syst_cvr = 0xE000_E018;

var ticks: u32 = 0;

fn defaultHandler() callconv(.c) void {
    while (true) {}
}

fn sysTickHandler() callconv(.c) void {
    const counter: *volatile u32 = &ticks;
    counter.* += 1;
}

fn putc(c: u8) void {
    while (reg(usart2_isr).* & (1 << 7) == 0) {}
    reg(usart2_tdr).* = c;
}

fn puts(text: []const u8) void {
    for (text) |c| putc(c);
}

fn putu(value: u32) void {
    var digits: [10]u8 = undefined;
    var n: usize = 0;
    var v = value;
    while (true) {
        digits[n] = @as(u8, @intCast(v % 10)) + '0';
        n += 1;
        v /= 10;
        if (v == 0) break;
    }
    while (n > 0) {
        n -= 1;
        putc(digits[n]);
    }
}

fn fib(n: u32) u32 {
    var a: u32 = 0;
    var b: u32 = 1;
    var i: u32 = 0;
    while (i < n) : (i += 1) {
        const next = a + b;
        a = b;
        b = next;
    }
    return a;
}

fn waitTick(seen: u32) u32 {
    const counter: *volatile u32 = &ticks;
    while (counter.* == seen) {
        asm volatile ("wfi");
    }
    return counter.*;
}

fn appMain() noreturn {
    reg(rcc_apb1enr1).* |= 1 << 17;
    reg(usart2_brr).* = 160_000_000 / 115_200;
    reg(usart2_cr1).* = (1 << 3) | (1 << 0);
    reg(rcc_ahb2enr1).* |= 1;
    reg(gpioa_moder).* = (reg(gpioa_moder).* & ~@as(u32, 3 << 10)) | (1 << 10);

    puts("zig fib=");
    putu(fib(24));
    puts("\n");

    reg(syst_rvr).* = 160_000 - 1;
    reg(syst_cvr).* = 0;
    reg(syst_csr).* = 0x7;
    var seen: u32 = 0;
    var toggle: u32 = 0;
    while (toggle < 3) : (toggle += 1) {
        seen = waitTick(seen);
        reg(gpioa_bsrr).* = if (toggle % 2 == 0) (1 << 5) else (1 << (5 + 16));
    }
    reg(syst_csr).* = 0;
    puts("zig ticks=");
    putu(seen);
    puts("\nzig done\n");
    while (true) {
        asm volatile ("wfi");
    }
}

export fn Reset_Handler() callconv(.c) noreturn {
    const data_len = @intFromPtr(&_edata) - @intFromPtr(&_sdata);
    const data: [*]u8 = @ptrCast(&_sdata);
    const init: [*]const u8 = @ptrCast(&_sidata);
    for (0..data_len) |i| data[i] = init[i];
    const bss_len = @intFromPtr(&_ebss) - @intFromPtr(&_sbss);
    const bss: [*]u8 = @ptrCast(&_sbss);
    for (0..bss_len) |i| bss[i] = 0;
    appMain();
}
