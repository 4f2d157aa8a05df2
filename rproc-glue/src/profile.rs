//! Platform profiles: how each Linux remoteproc driver reads its processor's node.
//!
//! This module owns [`Profile`] and the profiles themselves ([`STM32`], [`TI_K3_R5F`],
//! [`TI_K3_M4F`], [`TI_K3_DSP`], [`IMX`], [`XLNX_ZYNQMP_R5F`], [`XLNX_VERSAL_R5F`],
//! [`GENERIC`]): small tables saying which `memory-region`s become loadable carveouts,
//! which one is the processor's DMA pool, which are vrings, vdev buffers or skipped,
//! how device addresses map to physical ones (the bus's `dma-ranges`, identity, the
//! driver's own address tables, internal memories such as TCMs named in `reg-names`)
//! and which ELF machine and class the firmware must be. A profile is chosen from the
//! processor node's `compatible` ([`for_compatible`]) and can be named explicitly
//! ([`by_name`]). It must never read a device tree nor touch memory: callers (the
//! planner, a kernel's platform code) apply it.
//!
//! ```
//! use contig_rproc_glue::profile::{self, RegionUse};
//! let p = profile::for_compatible(&["st,stm32mp1-m4"]);
//! assert_eq!(p.name, "stm32");
//! // Every memory-region of the STM32MP1's M4 is firmware memory, none is a DMA pool.
//! assert_eq!(p.region_use(0, "retram", true), RegionUse::Carveout);
//! assert_eq!(p.region_use(5, "vdev0buffer", true), RegionUse::VdevBuffer);
//! let k3 = profile::for_compatible(&["ti,am64-r5f"]);
//! assert_eq!(k3.region_use(0, "r5f-dma-memory", true), RegionUse::DmaPool);
//! assert!(k3.accepts(40, false) && !k3.accepts(62, true)); // EM_ARM yes, EM_X86_64 no
//! assert_eq!(profile::for_compatible(&["acme,dsp"]).name, "generic");
//! ```
#![forbid(unsafe_code)]

use crate::DeviceAddr;

/// `EM_ARM`.
pub const EM_ARM: u16 = 40;
/// `EM_TI_C6000`.
pub const EM_TI_C6000: u16 = 140;

/// The class of an ELF image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

impl ElfClass {
    /// `ELF32` / `ELF64`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Elf32 => "ELF32",
            Self::Elf64 => "ELF64",
        }
    }
}

/// A firmware image kind a processor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Machine {
    /// `e_machine`; `None` when only the class is known.
    pub e_machine: Option<u16>,
    /// The ELF class.
    pub class: ElfClass,
}

impl Machine {
    const fn arm32() -> Self {
        Self {
            e_machine: Some(EM_ARM),
            class: ElfClass::Elf32,
        }
    }
}

/// Which `memory-region` is the processor's own DMA pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pool {
    /// The first `memory-region`, when it is a `shared-dma-pool` (the driver calls
    /// `of_reserved_mem_device_init` on index 0): ANY carveouts and rings without a
    /// region of their own come from there, and the vdevs inherit it.
    First,
    /// None: the driver registers every region as a carveout; ANY allocations fall
    /// back to the default CMA area or pool.
    None,
}

/// How device addresses of `memory-region`s are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Translation {
    /// Through the `dma-ranges` of the processor's bus (identity when there are none).
    DmaRanges,
    /// The device address is the physical address (the driver uses `rmem->base`).
    Identity,
}

/// Memories inside or beside the processor that the driver adds itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Internal {
    /// None.
    None,
    /// `reg` entries named in `reg-names`, each at a fixed device address.
    RegNames(&'static [(&'static str, u64)]),
    /// The K3 R5F TCMs: `atcm` and `btcm` from `reg-names`; with `ti,loczrama = <1>`
    /// ATCM is at device address 0 and BTCM at `0x41010000`, else the other way round.
    R5fTcm,
    /// Every `reg` entry (named in `reg-names`) at the untranslated `reg` address as
    /// device address, and the address translated through the parents' `ranges` as
    /// physical address (Xilinx TCM banks).
    RegAddress,
    /// The driver's address translation table for the SoC ([`imx_att`]): its entries
    /// owned by the core (`ATT_OWN`) are the core's memories.
    AttTable,
}

/// What one `memory-region` entry of a processor is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionUse {
    /// The processor's DMA pool.
    DmaPool,
    /// Firmware memory: loadable, matched with table carveouts by name, then address.
    Carveout,
    /// A ring (`vdev{N}vring{M}`).
    Vring,
    /// A vdev's buffer pool (`vdev{N}buffer`).
    VdevBuffer,
    /// Ignored by the driver for loading (e.g. i.MX `rsc-table`).
    Ignored,
}

/// How one Linux remoteproc driver reads its processor's node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Profile {
    /// Short name (`--profile` in the planner).
    pub name: &'static str,
    /// The Linux driver it mirrors (path in the Linux source tree).
    pub driver: &'static str,
    /// The `compatible` strings of processor nodes it is chosen for.
    pub compatibles: &'static [&'static str],
    /// Which region is the DMA pool.
    pub pool: Pool,
    /// How many `memory-region` entries the driver requires (it refuses the
    /// processor with fewer).
    pub min_regions: usize,
    /// Whether the driver refuses the processor when its first `memory-region` cannot
    /// be its DMA pool (not a `shared-dma-pool`).
    pub pool_required: bool,
    /// Region names the driver passes over.
    pub ignored: &'static [&'static str],
    /// How device addresses of regions are found.
    pub translation: Translation,
    /// Memories the driver adds itself.
    pub internal: Internal,
    /// The firmware images it accepts (empty: any).
    pub machines: &'static [Machine],
}

impl Profile {
    /// What `memory-region` entry `index`, a region named `name` (node name without
    /// unit address), is for; `is_pool` says whether the region is a coherent pool
    /// (`shared-dma-pool` without `reusable`).
    #[must_use]
    pub fn region_use(&self, index: usize, name: &str, is_pool: bool) -> RegionUse {
        if index == 0 && is_pool && self.pool == Pool::First {
            return RegionUse::DmaPool;
        }
        if self.ignored.contains(&name) {
            return RegionUse::Ignored;
        }
        kind_by_name(name)
    }

    /// Whether a firmware image with `e_machine` and class (`is_64`) suits it.
    #[must_use]
    pub fn accepts(&self, e_machine: u16, is_64: bool) -> bool {
        let class = if is_64 {
            ElfClass::Elf64
        } else {
            ElfClass::Elf32
        };
        self.machines.is_empty()
            || self
                .machines
                .iter()
                .any(|m| m.class == class && m.e_machine.is_none_or(|e| e == e_machine))
    }

    /// The device address of internal memory `reg_name` at untranslated `reg`
    /// address `reg_addr` (see [`Internal`]); `loczrama` is the K3 R5F's
    /// `ti,loczrama` (absent: 1, as the driver defaults).
    #[must_use]
    pub fn internal_da(&self, reg_name: &str, reg_addr: u64, loczrama: bool) -> Option<DeviceAddr> {
        const K3_R5_TCM_DEV_ADDR: u64 = 0x4101_0000;
        let da = match self.internal {
            Internal::None | Internal::AttTable => return None,
            Internal::RegNames(names) => names.iter().find(|(n, _)| *n == reg_name)?.1,
            Internal::R5fTcm => match (reg_name, loczrama) {
                ("atcm", true) | ("btcm", false) => 0,
                ("atcm", false) | ("btcm", true) => K3_R5_TCM_DEV_ADDR,
                _ => return None,
            },
            // The driver keeps the low 32 bits: the R5 addresses 32 bits.
            Internal::RegAddress => reg_addr & 0xffff_ffff,
        };
        Some(DeviceAddr::new(da))
    }
}

/// A region's kind by the names Linux's remoteproc core looks up:
/// `vdev{N}vring{M}`, `vdev{N}buffer`, else firmware memory.
#[must_use]
pub fn kind_by_name(name: &str) -> RegionUse {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some(rest) = name.strip_prefix("vdev") else {
        return RegionUse::Carveout;
    };
    if rest.strip_suffix("buffer").is_some_and(digits) {
        return RegionUse::VdevBuffer;
    }
    match rest.split_once("vring") {
        Some((n, m)) if digits(n) && digits(m) => RegionUse::Vring,
        _ => RegionUse::Carveout,
    }
}

/// ST STM32MP1 Cortex-M4, Linux `drivers/remoteproc/stm32_rproc.c`: every
/// `memory-region` is registered as a carveout named after its node (no DMA pool), its
/// device address found through the `dma-ranges` of the M4's bus (MLAHB: RETRAM at
/// device address 0); `vdev0buffer` is the vdev's buffer pool by name; the image is
/// checked by `rproc_elf_sanity_check` (Cortex-M4: ELF32 ARM).
pub const STM32: Profile = Profile {
    name: "stm32",
    driver: "drivers/remoteproc/stm32_rproc.c",
    compatibles: &["st,stm32mp1-m4"],
    pool: Pool::None,
    min_regions: 0,
    pool_required: false,
    ignored: &[],
    translation: Translation::DmaRanges,
    internal: Internal::None,
    machines: &[Machine::arm32()],
};

/// TI K3 R5F, Linux `drivers/remoteproc/ti_k3_r5_remoteproc.c` (with
/// `ti_k3_common.c`): at least two `memory-region`s; the first is the DMA pool
/// (`of_reserved_mem_device_init_by_idx(.., 0)`, the processor is refused if it is
/// not a `shared-dma-pool`), the others firmware memory at device address = physical
/// address (the driver maps them for loading; it does not list them as remoteproc
/// carveouts, so in Linux a table carveout does not bind to them by name, while the
/// planner lets it); ATCM and BTCM from `reg`/`reg-names`, placed by `ti,loczrama`.
pub const TI_K3_R5F: Profile = Profile {
    name: "ti-k3-r5f",
    driver: "drivers/remoteproc/ti_k3_r5_remoteproc.c",
    compatibles: &[
        "ti,am654-r5f",
        "ti,j721e-r5f",
        "ti,j7200-r5f",
        "ti,am64-r5f",
        "ti,am62-r5f",
        "ti,j721s2-r5f",
    ],
    pool: Pool::First,
    min_regions: 2,
    pool_required: true,
    ignored: &[],
    translation: Translation::Identity,
    internal: Internal::R5fTcm,
    machines: &[Machine::arm32()],
};

/// TI K3 M4F, Linux `drivers/remoteproc/ti_k3_m4_remoteproc.c`: two or more
/// `memory-region`s, the first the DMA pool, the others firmware memory at device
/// address = physical address; internal `iram` at device address 0 and `dram` at
/// `0x30000` from `reg`/`reg-names`.
pub const TI_K3_M4F: Profile = Profile {
    name: "ti-k3-m4f",
    driver: "drivers/remoteproc/ti_k3_m4_remoteproc.c",
    compatibles: &["ti,am64-m4fss"],
    pool: Pool::First,
    min_regions: 2,
    pool_required: true,
    ignored: &[],
    translation: Translation::Identity,
    internal: Internal::RegNames(&[("iram", 0x0), ("dram", 0x3_0000)]),
    machines: &[Machine::arm32()],
};

/// TI K3 C66x / C71x DSPs, Linux `drivers/remoteproc/ti_k3_dsp_remoteproc.c`: two or
/// more `memory-region`s, the first the DMA pool, the others firmware memory at device
/// address = physical address; internal `l2sram` at `0x800000`, `l1pram` at
/// `0xe00000`, `l1dram` at `0xf00000` (the C66x map; the C71x's `l1dram` is at
/// `0xe00000`). C66x images are ELF32 `EM_TI_C6000`; C71x images are ELF64 (their
/// machine is not checked).
pub const TI_K3_DSP: Profile = Profile {
    name: "ti-k3-dsp",
    driver: "drivers/remoteproc/ti_k3_dsp_remoteproc.c",
    compatibles: &[
        "ti,j721e-c66-dsp",
        "ti,j721e-c71-dsp",
        "ti,j721s2-c71-dsp",
        "ti,am62a-c7xv-dsp",
    ],
    pool: Pool::First,
    min_regions: 2,
    pool_required: true,
    ignored: &[],
    translation: Translation::Identity,
    internal: Internal::RegNames(&[
        ("l2sram", 0x80_0000),
        ("l1pram", 0xe0_0000),
        ("l1dram", 0xf0_0000),
    ]),
    machines: &[
        Machine {
            e_machine: Some(EM_TI_C6000),
            class: ElfClass::Elf32,
        },
        Machine {
            e_machine: None,
            class: ElfClass::Elf64,
        },
    ],
};

/// NXP i.MX Cortex-M cores, Linux `drivers/remoteproc/imx_rproc.c`: every
/// `memory-region` but `vdev0buffer` (the vdev's buffers) and `rsc-table` is a
/// carveout at device address = physical address ("i.MX use same map"); the core's
/// own memories (TCMs, OCRAM) come from the driver's per-SoC address translation
/// table ([`imx_att`]), no DMA pool.
pub const IMX: Profile = Profile {
    name: "imx",
    driver: "drivers/remoteproc/imx_rproc.c",
    compatibles: &[
        "fsl,imx8mq-cm4",
        "fsl,imx8mm-cm4",
        "fsl,imx8mn-cm7",
        "fsl,imx8mp-cm7",
        "fsl,imx8mn-cm7-mmio",
        "fsl,imx8mp-cm7-mmio",
        "fsl,imx8qxp-cm4",
        "fsl,imx8qm-cm4",
        "fsl,imx8ulp-cm33",
        "fsl,imx7ulp-cm4",
        "fsl,imx7d-cm4",
        "fsl,imx6sx-cm4",
        "fsl,imx93-cm33",
    ],
    pool: Pool::None,
    min_regions: 0,
    pool_required: false,
    ignored: &["rsc-table"],
    translation: Translation::Identity,
    internal: Internal::AttTable,
    machines: &[Machine::arm32()],
};

/// Xilinx ZynqMP RPU (Cortex-R5F), Linux `drivers/remoteproc/xlnx_r5_remoteproc.c`:
/// every `memory-region` is a carveout named after its node at device address =
/// physical address (`vdev0buffer` the vdev's buffers), no DMA pool; the TCM banks
/// from `reg`/`reg-names`, at the untranslated `reg` address (ATCM 0, BTCM 0x20000)
/// and the physical address the cluster's `ranges` give.
pub const XLNX_ZYNQMP_R5F: Profile = Profile {
    name: "xlnx-zynqmp-r5f",
    driver: "drivers/remoteproc/xlnx_r5_remoteproc.c",
    compatibles: &["xlnx,zynqmp-r5f"],
    pool: Pool::None,
    min_regions: 0,
    pool_required: false,
    ignored: &[],
    translation: Translation::Identity,
    internal: Internal::RegAddress,
    machines: &[Machine::arm32()],
};

/// Xilinx Versal RPU (Cortex-R5F), Linux `drivers/remoteproc/xlnx_r5_remoteproc.c`:
/// the same rules as [`XLNX_ZYNQMP_R5F`] (TCM banks only from `reg`).
pub const XLNX_VERSAL_R5F: Profile = Profile {
    name: "xlnx-versal-r5f",
    compatibles: &["xlnx,versal-r5f"],
    ..XLNX_ZYNQMP_R5F
};

/// Any other processor: the first `memory-region`, if a `shared-dma-pool`, is its DMA
/// pool (Linux `of_reserved_mem_device_init`, as most drivers and
/// `drivers/remoteproc/remoteproc_core.c`'s fallbacks use it); every other region is
/// firmware memory, a ring or a vdev buffer by the names the remoteproc core looks up;
/// device addresses through the bus's `dma-ranges`; any ELF machine.
pub const GENERIC: Profile = Profile {
    name: "generic",
    driver: "drivers/remoteproc/remoteproc_core.c",
    compatibles: &[],
    pool: Pool::First,
    min_regions: 0,
    pool_required: false,
    ignored: &[],
    translation: Translation::DmaRanges,
    internal: Internal::None,
    machines: &[],
};

/// Every profile, [`GENERIC`] last.
pub const PROFILES: [&Profile; 8] = [
    &STM32,
    &TI_K3_R5F,
    &TI_K3_M4F,
    &TI_K3_DSP,
    &IMX,
    &XLNX_ZYNQMP_R5F,
    &XLNX_VERSAL_R5F,
    &GENERIC,
];

/// The profile for a processor node whose `compatible` list is `compatibles`: the
/// first entry some profile claims, else [`GENERIC`].
#[must_use]
pub fn for_compatible(compatibles: &[&str]) -> &'static Profile {
    compatibles
        .iter()
        .find_map(|c| PROFILES.iter().find(|p| p.compatibles.contains(c)))
        .copied()
        .unwrap_or(&GENERIC)
}

/// The profile called `name`.
#[must_use]
pub fn by_name(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name).copied()
}

/// One entry of an i.MX address translation table (`struct imx_rproc_att`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Att {
    /// Device address (the Cortex-M's view).
    pub da: u32,
    /// System (physical) address.
    pub sa: u32,
    /// Bytes.
    pub size: u32,
    /// Owned by the core (`ATT_OWN`): the driver maps it as the core's memory.
    pub own: bool,
}

const fn att(da: u32, sa: u32, size: u32, own: bool) -> Att {
    Att { da, sa, size, own }
}

/// i.MX8MN / i.MX8MP Cortex-M7 (`imx_rproc_att_imx8mn`).
const ATT_IMX8MN: &[Att] = &[
    att(0x0000_0000, 0x007E_0000, 0x0002_0000, true),
    att(0x0018_0000, 0x0018_0000, 0x0000_9000, false),
    att(0x0090_0000, 0x0090_0000, 0x0002_0000, false),
    att(0x0092_0000, 0x0092_0000, 0x0002_0000, false),
    att(0x0094_0000, 0x0094_0000, 0x0005_0000, false),
    att(0x0800_0000, 0x0800_0000, 0x0800_0000, false),
    att(0x1000_0000, 0x4000_0000, 0x0FFE_0000, false),
    att(0x2000_0000, 0x0080_0000, 0x0002_0000, true),
    att(0x2018_0000, 0x0018_0000, 0x0000_8000, true),
    att(0x2020_0000, 0x0090_0000, 0x0002_0000, true),
    att(0x2022_0000, 0x0092_0000, 0x0002_0000, true),
    att(0x2024_0000, 0x0094_0000, 0x0004_0000, true),
    att(0x4000_0000, 0x4000_0000, 0x8000_0000, false),
];

/// i.MX8MQ / i.MX8MM Cortex-M4 (`imx_rproc_att_imx8mq`).
const ATT_IMX8MQ: &[Att] = &[
    att(0x0000_0000, 0x007e_0000, 0x0002_0000, false),
    att(0x0018_0000, 0x0018_0000, 0x0000_8000, false),
    att(0x0090_0000, 0x0090_0000, 0x0002_0000, false),
    att(0x0092_0000, 0x0092_0000, 0x0002_0000, false),
    att(0x0800_0000, 0x0800_0000, 0x0800_0000, false),
    att(0x1000_0000, 0x4000_0000, 0x0FFE_0000, false),
    att(0x1FFE_0000, 0x007E_0000, 0x0004_0000, true),
    att(0x2018_0000, 0x0018_0000, 0x0000_8000, true),
    att(0x2020_0000, 0x0090_0000, 0x0002_0000, true),
    att(0x2022_0000, 0x0092_0000, 0x0002_0000, true),
    att(0x4000_0000, 0x4000_0000, 0x8000_0000, false),
];

/// i.MX93 Cortex-M33 (`imx_rproc_att_imx93`).
const ATT_IMX93: &[Att] = &[
    att(0x0FFC_0000, 0x201C_0000, 0x0004_0000, true),
    att(0x1FFC_0000, 0x201C_0000, 0x0004_0000, true),
    att(0x2000_0000, 0x2020_0000, 0x0004_0000, true),
    att(0x3000_0000, 0x2020_0000, 0x0004_0000, true),
    att(0x8000_0000, 0x8000_0000, 0x1000_0000, false),
    att(0x9000_0000, 0x8000_0000, 0x1000_0000, false),
    att(0xC000_0000, 0xC000_0000, 0x1000_0000, false),
    att(0xD000_0000, 0xC000_0000, 0x1000_0000, false),
];

/// i.MX8QXP Cortex-M4 (`imx_rproc_att_imx8qxp`).
const ATT_IMX8QXP: &[Att] = &[
    att(0x0800_0000, 0x0800_0000, 0x1000_0000, false),
    att(0x1FFE_0000, 0x34FE_0000, 0x0004_0000, true),
    att(0x2100_0000, 0x0010_0000, 0x0001_8000, false),
    att(0x2110_0000, 0x0010_0000, 0x0004_0000, false),
    att(0x8000_0000, 0x8000_0000, 0x6000_0000, false),
];

/// i.MX8ULP Cortex-M33 (`imx_rproc_att_imx8ulp`).
const ATT_IMX8ULP: &[Att] = &[
    att(0x1FFC_0000, 0x1FFC_0000, 0xC_0000, true),
    att(0x2100_0000, 0x2100_0000, 0x1_0000, true),
    att(0x8000_0000, 0x8000_0000, 0x6000_0000, false),
];

/// i.MX7ULP Cortex-M4 (`imx_rproc_att_imx7ulp`).
const ATT_IMX7ULP: &[Att] = &[
    att(0x1FFD_0000, 0x1FFD_0000, 0x3_0000, true),
    att(0x2000_0000, 0x2000_0000, 0x1_0000, true),
    att(0x2F00_0000, 0x2F00_0000, 0x2_0000, true),
    att(0x2F02_0000, 0x2F02_0000, 0x2_0000, true),
    att(0x6000_0000, 0x6000_0000, 0x4000_0000, false),
];

/// i.MX7D Cortex-M4 (`imx_rproc_att_imx7d`).
const ATT_IMX7D: &[Att] = &[
    att(0x0000_0000, 0x0018_0000, 0x0000_8000, false),
    att(0x0018_0000, 0x0018_0000, 0x0000_8000, true),
    att(0x0090_0000, 0x0090_0000, 0x0002_0000, false),
    att(0x0092_0000, 0x0092_0000, 0x0002_0000, false),
    att(0x0094_0000, 0x0094_0000, 0x0000_8000, false),
    att(0x1FFF_8000, 0x007F_8000, 0x0000_8000, true),
    att(0x1000_0000, 0x8000_0000, 0x0FFF_0000, false),
    att(0x2000_0000, 0x0080_0000, 0x0000_8000, true),
    att(0x2020_0000, 0x0090_0000, 0x0002_0000, false),
    att(0x2022_0000, 0x0092_0000, 0x0002_0000, false),
    att(0x2024_0000, 0x0094_0000, 0x0000_8000, false),
    att(0x8000_0000, 0x8000_0000, 0x6000_0000, false),
];

/// i.MX6SX Cortex-M4 (`imx_rproc_att_imx6sx`).
const ATT_IMX6SX: &[Att] = &[
    att(0x0000_0000, 0x007F_8000, 0x0000_8000, false),
    att(0x0018_0000, 0x008F_8000, 0x0000_4000, false),
    att(0x0018_0000, 0x008F_C000, 0x0000_4000, false),
    att(0x1FFF_8000, 0x007F_8000, 0x0000_8000, true),
    att(0x1000_0000, 0x8000_0000, 0x0FFF_8000, false),
    att(0x2000_0000, 0x0080_0000, 0x0000_8000, true),
    att(0x208F_8000, 0x008F_8000, 0x0000_4000, false),
    att(0x8000_0000, 0x8000_0000, 0x6000_0000, false),
];

/// The i.MX driver's address translation table for a core's `compatible` (Linux
/// `drivers/remoteproc/imx_rproc.c`, the `imx_rproc_att_*` tables and the
/// `imx_rproc_of_match` table that picks one per SoC). The dual-core i.MX8QM table
/// depends on the core index and is not included.
#[must_use]
pub fn imx_att(compatible: &str) -> Option<&'static [Att]> {
    Some(match compatible {
        "fsl,imx8mn-cm7" | "fsl,imx8mp-cm7" | "fsl,imx8mn-cm7-mmio" | "fsl,imx8mp-cm7-mmio" => {
            ATT_IMX8MN
        }
        "fsl,imx8mq-cm4" | "fsl,imx8mm-cm4" => ATT_IMX8MQ,
        "fsl,imx93-cm33" => ATT_IMX93,
        "fsl,imx8qxp-cm4" => ATT_IMX8QXP,
        "fsl,imx8ulp-cm33" => ATT_IMX8ULP,
        "fsl,imx7ulp-cm4" => ATT_IMX7ULP,
        "fsl,imx7d-cm4" => ATT_IMX7D,
        "fsl,imx6sx-cm4" => ATT_IMX6SX,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_cites_its_driver_and_is_found_by_name() {
        for p in PROFILES {
            assert!(p.driver.starts_with("drivers/remoteproc/"), "{}", p.name);
            assert_eq!(by_name(p.name), Some(p));
            for c in p.compatibles {
                assert_eq!(for_compatible(&[c]).name, p.name, "{c}");
            }
        }
        assert_eq!(by_name("nonsense"), None);
        // The first claimed entry of a compatible list wins.
        assert_eq!(
            for_compatible(&["acme,m4", "xlnx,zynqmp-r5f"]).name,
            "xlnx-zynqmp-r5f"
        );
    }

    #[test]
    fn regions_are_used_as_each_driver_uses_them() {
        assert_eq!(STM32.region_use(0, "retram", true), RegionUse::Carveout);
        assert_eq!(STM32.region_use(3, "vdev0vring0", true), RegionUse::Vring);
        assert_eq!(TI_K3_R5F.region_use(0, "x", true), RegionUse::DmaPool);
        assert_eq!(TI_K3_R5F.region_use(1, "x", true), RegionUse::Carveout);
        assert_eq!(GENERIC.region_use(0, "x", false), RegionUse::Carveout);
        assert_eq!(IMX.region_use(2, "rsc-table", false), RegionUse::Ignored);
        assert_eq!(
            XLNX_ZYNQMP_R5F.region_use(3, "vdev0buffer", true),
            RegionUse::VdevBuffer
        );
        for other in ["vdevbuffer", "vdev0vring", "vdevxvring0", "vdev0buffers"] {
            assert_eq!(kind_by_name(other), RegionUse::Carveout, "{other}");
        }
        assert_eq!(kind_by_name("vdev12vring3"), RegionUse::Vring);
    }

    #[test]
    fn internal_memories_sit_where_the_drivers_put_them() {
        let da = |p: &Profile, n, a, l| p.internal_da(n, a, l).map(DeviceAddr::as_u64);
        assert_eq!(da(&TI_K3_R5F, "atcm", 0x7800_0000, true), Some(0));
        assert_eq!(da(&TI_K3_R5F, "btcm", 0x7810_0000, true), Some(0x4101_0000));
        assert_eq!(da(&TI_K3_R5F, "btcm", 0x7810_0000, false), Some(0));
        assert_eq!(da(&TI_K3_M4F, "dram", 0x504_0000, true), Some(0x3_0000));
        assert_eq!(
            da(&XLNX_ZYNQMP_R5F, "btcm0", 0x1_0002_0000, true),
            Some(0x2_0000)
        );
        assert_eq!(da(&STM32, "atcm", 0, true), None);
        assert_eq!(imx_att("fsl,imx8mp-cm7").map(|t| t[0].sa), Some(0x7E_0000));
        assert!(imx_att("fsl,imx8qm-cm4").is_none());
    }

    #[test]
    fn machines_are_checked_by_class_and_number() {
        assert!(STM32.accepts(EM_ARM, false));
        assert!(!STM32.accepts(EM_ARM, true));
        assert!(!STM32.accepts(62, true));
        assert!(TI_K3_DSP.accepts(EM_TI_C6000, false));
        assert!(TI_K3_DSP.accepts(7, true));
        assert!(GENERIC.accepts(62, true));
    }
}
