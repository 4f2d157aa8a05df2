//! Boot: the first instructions, the stacks and `.bss`, then [`kmain`](crate::kmain).
//!
//! OpenSBI (`-bios default`) enters `_start` at 0x8020_0000 in S-mode with the MMU off
//! (`satp` = 0), `a0` = hart id and `a1` = the device tree's physical address. With
//! `-smp 2` only the boot hart comes here; OpenSBI keeps the others stopped until a
//! kernel starts them through the HSM extension: `smp.rs` starts the second one at
//! `_start_secondary`, on the second stack (it stops itself when its churn is done, and
//! `remote.rs` starts it again at the firmware's entry, as a remote processor). Should another hart arrive at `_start`, it
//! loses the lottery below and parks.

use core::sync::atomic::AtomicU32;

/// 1 until the first hart takes it (in `.data`, so zeroing `.bss` cannot reset it).
#[unsafe(no_mangle)]
static BOOT_LOTTERY: AtomicU32 = AtomicU32::new(1);

/// Bytes of stack per hart (`kernel.ld` reserves two).
pub const STACK_SIZE: usize = 64 * 1024;

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    /* The first hart through takes the lottery; any other parks. */
    lla     t0, BOOT_LOTTERY
    .option push
    .option arch, +a
    amoswap.w.aqrl t1, zero, (t0)
    .option pop
    beqz    t1, 3f

    /* Stack: the first of the two in .stacks. */
    lla     sp, __stacks_start
    li      t0, {stack}
    add     sp, sp, t0

    /* Floating point on (Initial), so compiled code may use the FP registers. */
    li      t0, 0x2000
    csrs    sstatus, t0

    /* Zero .bss (8-byte aligned by kernel.ld). a0 and a1 are kept for kmain. */
    lla     t0, __bss_start
    lla     t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, (t0)
    addi    t0, t0, 8
    j       1b
2:  call    {kmain}

3:  wfi
    j       3b

    .globl _start_secondary
_start_secondary:
    /* The second stack in .stacks; a0 = hart id for smp::secondary. */
    lla     sp, __stacks_start
    li      t0, {stack}
    add     sp, sp, t0
    add     sp, sp, t0
    li      t0, 0x2000
    csrs    sstatus, t0
    call    {secondary}
4:  wfi
    j       4b
"#,
    stack = const STACK_SIZE,
    kmain = sym crate::kmain,
    secondary = sym crate::smp::secondary,
);

unsafe extern "C" {
    /// Where the second hart starts (`smp.rs`).
    pub fn _start_secondary();
}
