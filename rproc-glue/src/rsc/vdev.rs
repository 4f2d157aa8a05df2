//! Vdev entries: a virtio device with its vrings and config space.
//!
//! This module owns the [`Vdev`] and [`Vring`] views and their decoding: reserved bytes
//! zero, vrings and config inside the table (sized without overflow), every vring's
//! `num` and `align` non-zero powers of two. It must never size or place the rings
//! (that is [`crate::vring`]'s and the memory entries' job).
#![forbid(unsafe_code)]

use zerocopy::FromBytes;

use super::bytes::slice;
use super::error::{EntryError, Field, Problem, VringField};
use super::layout::{VdevBody, VringDesc};
use super::{EntryAt, FW_RSC_ADDR_ANY};
use crate::DeviceAddr;
use contig_dma_pool::cma::PhysAddr;

/// Bytes of a vdev body after the `type` word, before its vrings (Linux: 24).
pub const VDEV_BODY_LEN: usize = core::mem::size_of::<VdevBody>();
/// Bytes of one vring descriptor (Linux: 20).
pub const VRING_LEN: usize = core::mem::size_of::<VringDesc>();
/// The largest vring `num` (virtio's split-ring limit).
pub const VRING_NUM_MAX: u32 = 32768;

/// A vdev entry (`struct fw_rsc_vdev`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vdev<'a> {
    /// Virtio device id (7 is rpmsg).
    pub id: u32,
    /// The vdev's notify id, as found.
    pub notifyid: u32,
    /// Features the remote supports.
    pub dfeatures: u32,
    /// Features the host negotiated.
    pub gfeatures: u32,
    /// Virtio status byte.
    pub status: u8,
    vrings: &'a [VringDesc],
    config: &'a [u8],
}

/// One vring descriptor of a vdev (`struct fw_rsc_vdev_vring`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vring {
    /// Where the remote wants the ring; `None` for `FW_RSC_ADDR_ANY`.
    pub da: Option<DeviceAddr>,
    /// Alignment of the used ring, a non-zero power of two.
    pub align: u32,
    /// Number of buffers, a non-zero power of two up to [`VRING_NUM_MAX`].
    pub num: u32,
    /// The ring's notify id, as found.
    pub notifyid: u32,
    /// Physical address; `None` for 0 or `FW_RSC_ADDR_ANY` (OpenAMP calls this field
    /// `reserved` and firmware leaves it 0; the host writes the real address back).
    pub pa: Option<PhysAddr>,
}

impl<'a> Vdev<'a> {
    /// Number of vrings the entry declares.
    #[must_use]
    pub fn num_of_vrings(&self) -> u8 {
        u8::try_from(self.vrings.len()).unwrap_or(u8::MAX)
    }

    /// Vring `ring`, or `None` past [`Vdev::num_of_vrings`].
    #[must_use]
    pub fn vring(&self, ring: u8) -> Option<Vring> {
        self.vrings.get(usize::from(ring)).map(Vring::from_desc)
    }

    /// The vrings in order.
    pub fn vrings(&self) -> impl Iterator<Item = Vring> + 'a {
        self.vrings.iter().map(Vring::from_desc)
    }

    /// The config space (`config_len` bytes).
    #[must_use]
    pub fn config(&self) -> &'a [u8] {
        self.config
    }

    /// Bytes of the whole body after the `type` word.
    #[must_use]
    pub fn body_len(&self) -> usize {
        VDEV_BODY_LEN + VRING_LEN * self.vrings.len() + self.config.len()
    }

    /// Decodes and checks the body of the entry at `at`.
    pub(crate) fn decode(at: &EntryAt<'a>) -> Result<Self, EntryError> {
        let b = at.body::<VdevBody>()?;
        for (i, r) in b.reserved.into_iter().enumerate() {
            if r != 0 {
                let v = (i as u64) << 8 | u64::from(r);
                return Err(at.error(Field::Reserved, v, Problem::NotZero));
            }
        }
        let n = b.num_of_vrings;
        let config_len = b.config_len.get();
        let rings_len = VRING_LEN * usize::from(n);
        let available = at.available();
        let rings_end = (VDEV_BODY_LEN + rings_len) as u64;
        if rings_end > available {
            let problem = Problem::Truncated {
                needed: rings_end,
                available,
            };
            return Err(at.error(Field::NumOfVrings, u64::from(n), problem));
        }
        let needed = rings_end + u64::from(config_len);
        if needed > available {
            let problem = Problem::Truncated { needed, available };
            return Err(at.error(Field::ConfigLen, u64::from(config_len), problem));
        }
        let truncated = Problem::Truncated { needed, available };
        let start = at.body_start() + VDEV_BODY_LEN;
        let too_short = |field, value| at.error(field, value, truncated);
        let vrings = slice(at.table(), start, rings_len)
            .and_then(|rings| <[VringDesc]>::ref_from_bytes(rings).ok())
            .ok_or_else(|| too_short(Field::NumOfVrings, u64::from(n)))?;
        let config = usize::try_from(config_len)
            .ok()
            .and_then(|len| slice(at.table(), start + rings_len, len))
            .ok_or_else(|| too_short(Field::ConfigLen, u64::from(config_len)))?;
        let vdev = Self {
            id: b.id.get(),
            notifyid: b.notifyid.get(),
            dfeatures: b.dfeatures.get(),
            gfeatures: b.gfeatures.get(),
            status: b.status,
            vrings,
            config,
        };
        for (ring, vring) in (0..=u8::MAX).zip(vdev.vrings()) {
            vring.check(at, ring)?;
        }
        Ok(vdev)
    }
}

impl Vring {
    fn from_desc(b: &VringDesc) -> Self {
        let da = b.da.get();
        let pa = b.pa.get();
        Self {
            da: (da != FW_RSC_ADDR_ANY).then(|| DeviceAddr::new(u64::from(da))),
            align: b.align.get(),
            num: b.num.get(),
            notifyid: b.notifyid.get(),
            pa: (pa != 0 && pa != FW_RSC_ADDR_ANY).then(|| PhysAddr::new(u64::from(pa))),
        }
    }

    fn check(&self, at: &EntryAt<'_>, ring: u8) -> Result<(), EntryError> {
        let field = |field| Field::Vring { ring, field };
        let num = field(VringField::Num);
        if self.num == 0 {
            return Err(at.error(num, 0, Problem::Zero));
        }
        if !self.num.is_power_of_two() {
            return Err(at.error(num, u64::from(self.num), Problem::NotPowerOfTwo));
        }
        if self.num > VRING_NUM_MAX {
            let problem = Problem::TooLarge {
                max: u64::from(VRING_NUM_MAX),
            };
            return Err(at.error(num, u64::from(self.num), problem));
        }
        let align = field(VringField::Align);
        if self.align == 0 {
            return Err(at.error(align, 0, Problem::Zero));
        }
        if !self.align.is_power_of_two() {
            return Err(at.error(align, u64::from(self.align), Problem::NotPowerOfTwo));
        }
        Ok(())
    }
}
