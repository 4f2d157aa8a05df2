//! The reserved-memory binding rules: what a child may combine and what it becomes.
//!
//! This module owns [`Role`], [`Spec`] and [`judge`]: exactly one of `reg` / `size`;
//! `alignment` and `alloc-ranges` only with `size`; `no-map` excludes `reusable`; a
//! reusable `shared-dma-pool` is a CMA area, any other `shared-dma-pool` a coherent
//! pool, a `restricted-dma-pool` a restricted pool, anything else a plain
//! reservation; each default claimed at most once and only by a region of its kind.
//! It must never place or build anything.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::cma::PhysRange;
use crate::cma::fallible::{try_push, try_reserve, try_string, try_to_vec};

use super::error::owned;
use super::reserved::{Compatible, Reserved};
use super::{DefaultKind, Error, Note, Options, Skipped};

/// What a reserved region is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A reusable `shared-dma-pool`: a CMA area (a region of the cma area set).
    CmaArea,
    /// A `shared-dma-pool` without `reusable`: a coherent pool.
    CoherentPool,
    /// A `restricted-dma-pool`: a coherent pool the device is confined to.
    RestrictedPool,
    /// Memory kept from the OS for a driver or firmware; nothing allocates from it.
    Reservation,
}

/// Where a region goes, as the binding says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Spec {
    /// At `reg` (every entry reserved; the first is the region).
    Fixed(Vec<PhysRange>),
    /// `size` bytes placed at boot, base a multiple of `align`, inside the
    /// `alloc-ranges` tried in order (empty: anywhere in `/memory`).
    Dynamic {
        /// Bytes.
        size: usize,
        /// Base alignment (the larger of `alignment`, the page and, for CMA areas,
        /// the CMA alignment).
        align: usize,
        /// `alloc-ranges`, in order.
        alloc_ranges: Vec<PhysRange>,
    },
}

/// A child that passed the rules.
#[derive(Clone, Debug)]
pub(crate) struct Judged {
    pub(crate) reserved: Reserved,
    pub(crate) spec: Spec,
    pub(crate) role: Role,
    pub(crate) default: Option<DefaultKind>,
}

/// Applies the binding rules to every child, in order.
///
/// # Errors
///
/// Per child, in order: [`Error::RegAndSize`] / [`Error::NoRegNoSize`],
/// [`Error::OnlyWithSize`], [`Error::ZeroSize`], [`Error::AlignNotPowerOfTwo`],
/// [`Error::NoMapReusable`], [`Error::BadForKind`], [`Error::CmaMisaligned`]; then
/// [`Error::SecondDefault`] for the second child that claims a default.
pub(crate) fn judge(children: Vec<Reserved>, options: &Options) -> Result<Vec<Judged>, Error> {
    let mut out: Vec<Judged> = Vec::new();
    try_reserve(&mut out, children.len(), "reserved-memory nodes")?;
    for reserved in children {
        let judged = judge_one(reserved, options)?;
        if let Some(kind) = judged.default {
            if let Some(first) = out.iter().find(|j| j.default == Some(kind)) {
                return Err(Error::SecondDefault {
                    kind,
                    node: judged.reserved.path,
                    first: owned(&first.reserved.path),
                });
            }
        }
        try_push(&mut out, judged, "reserved-memory nodes")?;
    }
    Ok(out)
}

/// Applies the binding rules the way Linux does when it meets a node that breaks one:
/// `size` or `alignment` / `alloc-ranges` next to `reg` are ignored (a [`Note`]),
/// any other broken rule skips that node alone (a [`Skipped`] entry) and the rest
/// stays usable.
///
/// # Errors
///
/// [`Error::OutOfMemory`] only.
pub(crate) fn judge_tolerant(
    children: Vec<Reserved>,
    options: &Options,
    skipped: &mut Vec<Skipped>,
    notes: &mut Vec<Note>,
) -> Result<Vec<Judged>, Error> {
    let mut out: Vec<Judged> = Vec::new();
    try_reserve(&mut out, children.len(), "reserved-memory nodes")?;
    for reserved in children {
        let (path, phandle) = (
            try_string(&reserved.path, "node path bytes")?,
            reserved.phandle,
        );
        let judged = judge_with(reserved, options, Some(notes)).and_then(|judged| {
            match judged
                .default
                .and_then(|kind| out.iter().find(|j| j.default == Some(kind)))
            {
                Some(first) => Err(Error::SecondDefault {
                    kind: judged.default.unwrap_or(DefaultKind::Cma),
                    node: owned(&judged.reserved.path),
                    first: owned(&first.reserved.path),
                }),
                None => Ok(judged),
            }
        });
        match judged {
            Ok(judged) => try_push(&mut out, judged, "reserved-memory nodes")?,
            Err(error @ Error::OutOfMemory { .. }) => return Err(error),
            Err(error) => {
                if let Some(oom) = error.lost_to_oom() {
                    return Err(oom);
                }
                try_push(skipped, Skipped::new(path, phandle, error), "skipped nodes")?;
            }
        }
    }
    Ok(out)
}

fn judge_one(reserved: Reserved, options: &Options) -> Result<Judged, Error> {
    judge_with(reserved, options, None)
}

fn judge_with(
    reserved: Reserved,
    options: &Options,
    notes: Option<&mut Vec<Note>>,
) -> Result<Judged, Error> {
    let node = || owned(&reserved.path);
    let role = role(&reserved);
    let spec = spec(&reserved, role, options, notes)?;
    if reserved.no_map && reserved.reusable {
        return Err(Error::NoMapReusable { node: node() });
    }
    check_kind(&reserved, role)?;
    if role == Role::CmaArea {
        check_cma(&reserved, &spec, options)?;
    }
    let default = match (reserved.cma_default, reserved.dma_default) {
        (true, true) => {
            return Err(Error::BadForKind {
                node: node(),
                property: "linux,dma-default",
                kind: "linux,cma-default",
            });
        }
        (true, false) => Some(DefaultKind::Cma),
        (false, true) => Some(DefaultKind::Dma),
        (false, false) => None,
    };
    Ok(Judged {
        reserved,
        spec,
        role,
        default,
    })
}

fn role(reserved: &Reserved) -> Role {
    match reserved.compatible {
        Compatible::SharedDmaPool if reserved.reusable => Role::CmaArea,
        Compatible::SharedDmaPool => Role::CoherentPool,
        Compatible::RestrictedDmaPool => Role::RestrictedPool,
        Compatible::Other(_) | Compatible::None => Role::Reservation,
    }
}

fn spec(
    reserved: &Reserved,
    role: Role,
    options: &Options,
    mut notes: Option<&mut Vec<Note>>,
) -> Result<Spec, Error> {
    let node = || owned(&reserved.path);
    match (&reserved.reg, reserved.size) {
        (Some(reg), Some(size)) => match notes.as_deref_mut() {
            Some(notes) => {
                let note = Note::ignored(try_string(&reserved.path, "node path bytes")?, "size");
                try_push(notes, note, "notes")?;
                fixed(reserved, reg, Some(notes))
            }
            None => Err(Error::RegAndSize {
                node: node(),
                reg: reg.first().copied().unwrap_or(PhysRange::EMPTY),
                size,
            }),
        },
        (None, None) => Err(Error::NoRegNoSize { node: node() }),
        (Some(reg), None) => fixed(reserved, reg, notes),
        (None, Some(size)) => {
            if size == 0 {
                return Err(Error::ZeroSize { node: node() });
            }
            let asked = reserved.alignment.unwrap_or(1);
            let align = usize::try_from(asked)
                .ok()
                .filter(|a| a.is_power_of_two())
                .ok_or_else(|| Error::AlignNotPowerOfTwo {
                    node: node(),
                    align: asked,
                })?;
            let floor = if role == Role::CmaArea {
                options.cma_align.max(options.page)
            } else {
                options.page
            };
            Ok(Spec::Dynamic {
                size,
                align: align.max(floor),
                alloc_ranges: match &reserved.alloc_ranges {
                    Some(ranges) => try_to_vec(ranges, "ranges")?,
                    None => Vec::new(),
                },
            })
        }
    }
}

/// A region fixed by `reg`: `alignment` and `alloc-ranges` are refused, or with
/// `notes` ignored with a note (Linux reads them only for regions placed from `size`).
fn fixed(
    reserved: &Reserved,
    reg: &[PhysRange],
    mut notes: Option<&mut Vec<Note>>,
) -> Result<Spec, Error> {
    let node = || owned(&reserved.path);
    for (property, present) in [
        ("alignment", reserved.alignment.is_some()),
        ("alloc-ranges", reserved.alloc_ranges.is_some()),
    ] {
        if !present {
            continue;
        }
        match notes.as_deref_mut() {
            Some(notes) => {
                let path = try_string(&reserved.path, "node path bytes")?;
                try_push(notes, Note::ignored(path, property), "notes")?;
            }
            None => {
                return Err(Error::OnlyWithSize {
                    node: node(),
                    property,
                });
            }
        }
    }
    if reg.iter().any(PhysRange::is_empty) {
        return Err(Error::ZeroSize { node: node() });
    }
    Ok(Spec::Fixed(try_to_vec(reg, "ranges")?))
}

/// Flags and defaults each kind refuses (Linux's `rmem_cma_setup`, `rmem_dma_setup`
/// and `rmem_swiotlb_setup` refuse the same).
fn check_kind(reserved: &Reserved, role: Role) -> Result<(), Error> {
    let (kind, refused): (&'static str, &[(&'static str, bool)]) = match role {
        Role::CmaArea => (
            "reusable shared-dma-pool",
            &[("linux,dma-default", reserved.dma_default)],
        ),
        Role::CoherentPool => (
            "shared-dma-pool without reusable",
            &[("linux,cma-default", reserved.cma_default)],
        ),
        Role::RestrictedPool => (
            "restricted-dma-pool",
            &[
                ("reusable", reserved.reusable),
                ("no-map", reserved.no_map),
                ("linux,cma-default", reserved.cma_default),
                ("linux,dma-default", reserved.dma_default),
            ],
        ),
        Role::Reservation => (
            "region without a pool compatible",
            &[
                ("linux,cma-default", reserved.cma_default),
                ("linux,dma-default", reserved.dma_default),
            ],
        ),
    };
    match refused.iter().find(|(_, present)| *present) {
        Some(&(property, _)) => Err(Error::BadForKind {
            node: owned(&reserved.path),
            property,
            kind,
        }),
        None => Ok(()),
    }
}

/// A CMA area's base and size must be multiples of the CMA alignment (a dynamic
/// one's base is placed aligned, so only its size is checked here).
fn check_cma(reserved: &Reserved, spec: &Spec, options: &Options) -> Result<(), Error> {
    let align = options.cma_align.max(options.page);
    let (range, aligned) = match spec {
        Spec::Fixed(reg) => {
            let range = reg.first().copied().unwrap_or(PhysRange::EMPTY);
            let ok = range.base().is_aligned(align) && range.size() % align == 0;
            (range, ok)
        }
        Spec::Dynamic { size, .. } => (
            PhysRange::new(crate::cma::PhysAddr::new(0), *size).unwrap_or(PhysRange::EMPTY),
            size % align == 0,
        ),
    };
    if aligned {
        Ok(())
    } else {
        Err(Error::CmaMisaligned {
            node: owned(reserved.path.as_str()),
            range,
            align,
        })
    }
}
