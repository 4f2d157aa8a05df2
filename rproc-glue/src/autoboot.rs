//! Booting by firmware name: auto-boot, firmware that arrives late, `set_firmware`.
//!
//! This module owns the processor's firmware name ([`FirmwareName`]), the
//! [`FirmwareSource`] a platform implements to look images up by name (Linux's
//! `request_firmware`, which may not find the file yet because the root file system is
//! not mounted), the auto-boot attempt ([`Rproc::try_auto_boot`]) and
//! [`firmware_available`], which boots every processor that was waiting for an image.
//! Whether a processor boots on its own is its own setting
//! ([`RprocConfig::auto_boot`](crate::RprocConfig::auto_boot), on by default), never
//! inferred from what its table holds. It must never boot a processor that is not
//! waiting or whose auto-boot is off, and never keeps an image: it borrows it from the
//! source for the length of one boot.
#![forbid(unsafe_code)]

use core::fmt;

use lock_api::RawMutex;

use crate::dma_pool::Devices;
use crate::error::RprocError;
use crate::ops::{Loader, RprocOps};
use crate::rproc::{Rproc, State};

/// Longest firmware name, in bytes.
pub const FIRMWARE_NAME_MAX: usize = 96;

/// A firmware image's name (Linux `rproc->firmware`), kept inline: no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirmwareName {
    bytes: [u8; FIRMWARE_NAME_MAX],
    len: u8,
}

/// Why a firmware name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FirmwareNameError {
    /// Empty (after cutting at the first newline, as Linux does for names written
    /// through sysfs).
    Empty,
    /// Longer than [`FIRMWARE_NAME_MAX`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
}

impl FirmwareName {
    /// `name` up to its first newline.
    ///
    /// # Errors
    /// [`FirmwareNameError`] if that is empty or too long.
    pub fn new(name: &str) -> Result<Self, FirmwareNameError> {
        let name = name.split('\n').next().unwrap_or("");
        if name.is_empty() {
            return Err(FirmwareNameError::Empty);
        }
        let src = name.as_bytes();
        let mut bytes = [0; FIRMWARE_NAME_MAX];
        let dest = bytes
            .get_mut(..src.len())
            .ok_or(FirmwareNameError::TooLong { len: src.len() })?;
        dest.copy_from_slice(src);
        Ok(Self {
            bytes,
            // At most `FIRMWARE_NAME_MAX`, checked just above.
            len: u8::try_from(src.len()).unwrap_or(u8::MAX),
        })
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Copied whole from a `&str` (cut at an ASCII newline, a character boundary).
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl fmt::Display for FirmwareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for FirmwareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for FirmwareNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty firmware name"),
            Self::TooLong { len } => write!(
                f,
                "firmware name of {len} bytes is longer than {FIRMWARE_NAME_MAX}"
            ),
        }
    }
}

/// Where firmware images come from, implemented by the platform (a file system, a
/// flash partition, images linked into the kernel).
pub trait FirmwareSource {
    /// The image called `name`, or `None` if it is not available (yet).
    fn firmware(&self, name: &str) -> Option<&[u8]>;
}

/// What [`Rproc::try_auto_boot`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AutoBoot {
    /// Auto-boot is off for this processor: nothing was done.
    Manual,
    /// The image was not available: the processor waits for
    /// [`firmware_available`] with its name.
    Waiting,
    /// Booted.
    Booted,
}

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// The firmware name [`boot_named`](Self::boot_named) and auto-boot look up.
    #[must_use]
    pub fn firmware(&self) -> Option<FirmwareName> {
        self.firmware
    }

    /// Sets the firmware name for the next boot (Linux `rproc_set_firmware`): the name
    /// up to its first newline. Allowed only while offline; a processor waiting for
    /// firmware then waits for this name.
    ///
    /// # Errors
    /// [`RprocError::State`] unless offline; [`RprocError::FirmwareName`] if the name
    /// is empty or too long. Nothing changes then.
    pub fn set_firmware(&mut self, name: &str) -> Result<(), RprocError> {
        self.expect("set the firmware of", &[State::Offline])?;
        self.firmware = Some(FirmwareName::new(name).map_err(RprocError::FirmwareName)?);
        Ok(())
    }

    /// Whether the processor waits for its firmware to become available (auto-boot
    /// found no image).
    #[must_use]
    pub fn waiting_for_firmware(&self) -> bool {
        self.waiting
    }

    /// Boots the image named by [`firmware`](Self::firmware), looked up in `source`.
    ///
    /// # Errors
    /// [`RprocError::State`] unless offline; [`RprocError::NoFirmwareName`] if no name
    /// was set; [`RprocError::FirmwareNotYet`] naming it if `source` does not have it
    /// (nothing changes); else as [`boot`](Self::boot).
    pub fn boot_named<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        source: &dyn FirmwareSource,
        loader: &mut dyn Loader,
    ) -> Result<(), RprocError> {
        self.expect("boot", &[State::Offline])?;
        let name = self.firmware.ok_or(RprocError::NoFirmwareName)?;
        let image = source
            .firmware(name.as_str())
            .ok_or(RprocError::FirmwareNotYet { name })?;
        self.boot(devs, image, loader)
    }

    /// What a platform calls for each processor once it is registered (Linux
    /// `rproc_trigger_auto_boot`): if auto-boot is on, boots the named firmware, or
    /// makes the processor wait for it when `source` does not have it yet.
    ///
    /// # Errors
    /// As [`boot_named`](Self::boot_named), except that a missing image is
    /// [`AutoBoot::Waiting`], not an error.
    pub fn try_auto_boot<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        source: &dyn FirmwareSource,
        loader: &mut dyn Loader,
    ) -> Result<AutoBoot, RprocError> {
        if !self.auto_boot() {
            return Ok(AutoBoot::Manual);
        }
        match self.boot_named(devs, source, loader) {
            Ok(()) => Ok(AutoBoot::Booted),
            Err(RprocError::FirmwareNotYet { .. }) => {
                self.waiting = true;
                Ok(AutoBoot::Waiting)
            }
            Err(e) => Err(e),
        }
    }
}

/// Tells the processors that firmware `name` became available (say, the root file
/// system was mounted): every processor in `rprocs` that waits for exactly that name
/// is booted from `source`, in iteration order, once. Processors that do not wait,
/// wait for another name, or have auto-boot off are left alone. `report` hears about
/// each boot attempted, with the processor's position in `rprocs` and the result; a
/// processor whose boot fails stops waiting (boot it by hand, as in Linux). Returns how
/// many booted.
///
/// A kernel keeps its processors wherever it likes and passes them as an iterator of
/// `&mut Rproc`: a slice, a `Vec`, or a few fields chained together. Processors of
/// different platforms share one call through one `RprocOps` type, an enum over the
/// platforms' ops.
pub fn firmware_available<'a, 'm: 'a, O: RprocOps + 'a, R: RawMutex>(
    rprocs: impl IntoIterator<Item = &'a mut Rproc<'m, O>>,
    name: &str,
    devs: &Devices<'m, R>,
    source: &dyn FirmwareSource,
    loader: &mut dyn Loader,
    report: &mut dyn FnMut(usize, Result<(), RprocError>),
) -> usize {
    let mut booted = 0;
    for (i, rproc) in rprocs.into_iter().enumerate() {
        let wanted = rproc.firmware.is_some_and(|f| f.as_str() == name);
        if !(rproc.waiting && wanted && rproc.auto_boot()) {
            continue;
        }
        match rproc.boot_named(devs, source, loader) {
            // Announced but still not there: keep waiting, nothing to report.
            Err(RprocError::FirmwareNotYet { .. }) => {}
            result => {
                rproc.waiting = false;
                booted += usize::from(result.is_ok());
                report(i, result);
            }
        }
    }
    booted
}
