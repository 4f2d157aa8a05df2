//! The serial console: QEMU virt's ns16550 UART at 0x1000_0000, polled.
//!
//! QEMU's UART needs no setup; a byte goes out once the transmit holding register is
//! empty. Output is serialised by an IRQ-safe lock so lines from an interrupt handler
//! or another hart never interleave.

use core::fmt::{self, Write};

use lock_api::Mutex;

use crate::irq::Lock;

/// The UART's base (QEMU `virt`: `/soc/serial@10000000`).
const UART: usize = 0x1000_0000;
/// Line status register offset, and its "transmit holding register empty" bit.
const LSR: usize = 5;
const LSR_THRE: u8 = 0x20;

struct Uart;

impl Uart {
    fn put(&mut self, byte: u8) {
        let thr = UART as *mut u8;
        let lsr = (UART + LSR) as *const u8;
        // SAFETY: QEMU virt maps an ns16550 at UART (8 byte-wide registers); with the
        // MMU off these addresses are the device's and nothing else maps them. These
        // are volatile byte accesses to device registers: two writers at once (only
        // the panic path bypasses the lock) can interleave characters, nothing more.
        unsafe {
            while lsr.read_volatile() & LSR_THRE == 0 {}
            thr.write_volatile(byte);
        }
    }
}

impl Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

static CONSOLE: Mutex<Lock, Uart> = Mutex::const_new(<Lock as lock_api::RawMutex>::INIT, Uart);

/// Writes formatted text to the console (what `print!` and `println!` expand to).
pub fn print(args: fmt::Arguments<'_>) {
    // Writing to the UART cannot fail.
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Writes formatted text even if the console lock is held (a panic while printing, on
/// this hart or the other): characters may interleave, but the message gets out.
pub fn print_dying(args: fmt::Arguments<'_>) {
    match CONSOLE.try_lock() {
        Some(mut uart) => {
            let _ = uart.write_fmt(args);
        }
        None => {
            let _ = Uart.write_fmt(args);
        }
    }
}

/// Prints to the serial console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
