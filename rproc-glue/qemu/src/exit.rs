//! Ending QEMU: the `sifive_test` device at 0x10_0000, and the panic handler.
//!
//! Writing 0x5555 makes QEMU exit with status 0; `(code << 16) | 0x3333` makes it exit
//! with status `code`. `run.sh` reads the status.

use core::panic::PanicInfo;

/// QEMU virt's `/soc/test@100000` (`sifive,test0`).
const SIFIVE_TEST: usize = 0x10_0000;
const PASS: u32 = 0x5555;
const FAIL: u32 = 0x3333;

/// Why the kernel failed, as QEMU's exit status.
#[derive(Clone, Copy, Debug)]
#[repr(u16)]
pub enum Failure {
    /// A check failed.
    Check = 1,
    /// The kernel panicked.
    Panic = 2,
    /// An unexpected trap (exception or interrupt).
    Trap = 3,
}

fn write(value: u32) -> ! {
    // SAFETY: QEMU virt maps the sifive_test device at SIFIVE_TEST (MMU off); a write
    // there ends the machine and has no other effect.
    unsafe { (SIFIVE_TEST as *mut u32).write_volatile(value) };
    loop {
        core::hint::spin_loop();
    }
}

/// Ends QEMU with status 0.
pub fn pass() -> ! {
    write(PASS)
}

/// Ends QEMU with the failure's status.
pub fn fail(why: Failure) -> ! {
    write(((why as u32) << 16) | FAIL)
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    crate::console::print_dying(format_args!("[FAIL] kernel panic: {info}\n"));
    fail(Failure::Panic)
}
