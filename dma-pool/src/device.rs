//! A device as the DMA layer sees it: name, parent, masks, bus view, memory sources.
//!
//! This module owns [`Device`] (a description, built with `with_*` methods) and
//! [`DeviceId`]. It must never hold buffers or pools itself (the registry does) nor
//! know what kind of device it is (a remote processor is just an ancestor).
#![forbid(unsafe_code)]

use crate::cma::{Name, RegionId};
use core::fmt;
use core::num::NonZeroU32;

use crate::{BusMap, Error};

/// The DMA mask a device has until told otherwise (32 bits, as Linux).
pub const DEFAULT_DMA_MASK: u64 = 0xffff_ffff;

/// A device in a [`Devices`](crate::Devices) registry. A removed device's id never
/// names another device (ids carry a generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceId {
    pub(crate) index: u32,
    /// Never zero, so `Option<DeviceId>` (the device of an error, `None` for no
    /// device) is 8 bytes too.
    pub(crate) generation: NonZeroU32,
}

impl fmt::Display for DeviceId {
    /// `device #index.generation`, as errors print a device without its registry.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device #{}.{}", self.index, self.generation)
    }
}

/// What the DMA layer knows about a device.
///
/// ```
/// use contig_dma_pool::{BusMap, Device};
/// let vdev = Device::new("vdev0").unwrap().with_coherent_mask(0xffff).with_bus(BusMap::Offset(0x1000));
/// assert_eq!(vdev.name().as_str(), "vdev0");
/// assert_eq!(vdev.dma_mask(), 0xffff_ffff);
/// assert_eq!(vdev.coherent_mask(), 0xffff);
/// assert!(Device::new("").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    name: Name,
    parent: Option<DeviceId>,
    dma_mask: u64,
    coherent_mask: u64,
    bus: BusMap,
    cma: Option<RegionId>,
    inherit_pool: bool,
}

impl Device {
    /// A root device with 32-bit masks, identity bus view and no memory of its own.
    ///
    /// # Errors
    ///
    /// [`Error::Cma`] with the name's problem.
    pub fn new(name: &str) -> Result<Self, Error> {
        Ok(Self {
            name: Name::new(name)?,
            parent: None,
            dma_mask: DEFAULT_DMA_MASK,
            coherent_mask: DEFAULT_DMA_MASK,
            bus: BusMap::Identity,
            cma: None,
            inherit_pool: false,
        })
    }

    /// The device as a child of `parent`.
    #[must_use]
    pub fn with_parent(self, parent: DeviceId) -> Self {
        Self {
            parent: Some(parent),
            ..self
        }
    }

    /// The mask for streaming DMA.
    #[must_use]
    pub fn with_dma_mask(self, dma_mask: u64) -> Self {
        Self { dma_mask, ..self }
    }

    /// The mask coherent buffers must satisfy (every bus address of a buffer is at
    /// most this).
    #[must_use]
    pub fn with_coherent_mask(self, coherent_mask: u64) -> Self {
        Self {
            coherent_mask,
            ..self
        }
    }

    /// How the device's bus addresses map to physical ones.
    #[must_use]
    pub fn with_bus(self, bus: BusMap) -> Self {
        Self { bus, ..self }
    }

    /// A CMA region (of the registry's area set) the device draws from.
    #[must_use]
    pub fn with_cma_area(self, region: RegionId) -> Self {
        Self {
            cma: Some(region),
            ..self
        }
    }

    /// Whether the device uses its parent's pool chain when it has no pool of its own
    /// (a virtio device under its remote processor).
    #[must_use]
    pub fn with_inherited_pool(self, inherit: bool) -> Self {
        Self {
            inherit_pool: inherit,
            ..self
        }
    }

    /// Its name.
    #[must_use]
    pub const fn name(&self) -> Name {
        self.name
    }

    /// Its parent, if any.
    #[must_use]
    pub const fn parent(&self) -> Option<DeviceId> {
        self.parent
    }

    /// The streaming DMA mask.
    #[must_use]
    pub const fn dma_mask(&self) -> u64 {
        self.dma_mask
    }

    /// The coherent DMA mask.
    #[must_use]
    pub const fn coherent_mask(&self) -> u64 {
        self.coherent_mask
    }

    /// Its bus view.
    #[must_use]
    pub const fn bus(&self) -> &BusMap {
        &self.bus
    }

    /// Its CMA region, if any.
    #[must_use]
    pub const fn cma_area(&self) -> Option<RegionId> {
        self.cma
    }

    /// Whether it inherits its parent's pool.
    #[must_use]
    pub const fn inherits_pool(&self) -> bool {
        self.inherit_pool
    }
}
