//! What the planner reads of the processor's node besides its `memory-region`s: its
//! `compatible` (to choose a platform profile) and its internal memories (TCMs and
//! the like, from `reg`/`reg-names` or the driver's address table).
//!
//! This module owns [`Processor`] and [`Internal`]. It decodes `reg` with the
//! parent's cell sizes and translates it to a physical address through the
//! ancestors' `ranges` as Linux's `of_translate_address` does (an ancestor without
//! `ranges` stops translation). It must never place anything nor decide whether
//! firmware fits.
#![forbid(unsafe_code)]

use contig_dma_pool::fdt::{DeviceTree, Node};
use contig_rproc_glue::DeviceAddr;
use contig_rproc_glue::profile::{self, Internal as InternalKind, Profile};

/// A memory the driver adds itself (a TCM, internal RAM, an owned i.MX area).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Internal {
    /// Its name (`reg-names` entry, or `att{i}` for an i.MX table entry).
    pub(crate) name: String,
    /// The remote's address.
    pub(crate) da: DeviceAddr,
    /// The physical address.
    pub(crate) pa: u64,
    /// Bytes.
    pub(crate) len: u64,
}

/// The processor node, as far as the profile needs it.
pub(crate) struct Processor {
    /// Its `compatible` strings.
    pub(crate) compatibles: Vec<String>,
    /// The profile used.
    pub(crate) profile: &'static Profile,
    /// Whether the profile was named on the command line.
    pub(crate) forced: bool,
    /// Its internal memories.
    pub(crate) internal: Vec<Internal>,
    /// Internal memories that could not be read, in words.
    pub(crate) notes: Vec<String>,
}

/// Reads node `index` of `tree`; `forced` is the `--profile` name.
///
/// # Errors
/// A message when `forced` names no profile.
pub(crate) fn read(
    tree: &DeviceTree<'_>,
    index: usize,
    forced: Option<&str>,
) -> Result<Processor, String> {
    let node = tree.node(index);
    let compatibles: Vec<String> = node
        .and_then(|n| n.property("compatible"))
        .map(strings)
        .unwrap_or_default();
    let refs: Vec<&str> = compatibles.iter().map(String::as_str).collect();
    let profile = match forced {
        Some(name) => profile::by_name(name).ok_or_else(|| {
            let known: Vec<&str> = profile::PROFILES.iter().map(|p| p.name).collect();
            format!("unknown profile {name:?} (known: {})", known.join(", "))
        })?,
        None => profile::for_compatible(&refs),
    };
    let mut notes = Vec::new();
    let internal = match node {
        Some(node) => internal(tree, index, node, profile, &refs, &mut notes),
        None => Vec::new(),
    };
    Ok(Processor {
        compatibles,
        profile,
        forced: forced.is_some(),
        internal,
        notes,
    })
}

fn internal(
    tree: &DeviceTree<'_>,
    index: usize,
    node: &Node<'_>,
    profile: &Profile,
    compatibles: &[&str],
    notes: &mut Vec<String>,
) -> Vec<Internal> {
    if profile.internal == InternalKind::AttTable {
        let table = compatibles.iter().find_map(|c| profile::imx_att(c));
        return table
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter(|(_, a)| a.own)
            .map(|(i, a)| Internal {
                name: format!("att{i}"),
                da: DeviceAddr::new(u64::from(a.da)),
                pa: u64::from(a.sa),
                len: u64::from(a.size),
            })
            .collect();
    }
    if profile.internal == InternalKind::None {
        return Vec::new();
    }
    let names = node.property("reg-names").map(strings).unwrap_or_default();
    let Some(parent) = node.parent() else {
        return Vec::new();
    };
    let Ok((address_cells, size_cells)) = tree.child_cells(parent) else {
        notes.push(format!("{}: unusable cell sizes above reg", node.path()));
        return Vec::new();
    };
    let regs = node
        .property("reg")
        .map(|raw| tuples(raw, &[address_cells, size_cells]))
        .unwrap_or_default();
    // The K3 R5F driver defaults to ATCM at 0 when ti,loczrama is absent.
    let loczrama = node
        .property("ti,loczrama")
        .and_then(|raw| <[u8; 4]>::try_from(raw).ok())
        .is_none_or(|b| u32::from_be_bytes(b) != 0);
    let mut out = Vec::new();
    for (i, reg) in regs.iter().enumerate() {
        let (&[addr, len], Some(name)) = (reg.as_slice(), names.get(i)) else {
            continue;
        };
        let Some(da) = profile.internal_da(name, addr, loczrama) else {
            continue;
        };
        match translate(tree, index, addr) {
            Some(pa) => out.push(Internal {
                name: name.clone(),
                da,
                pa,
                len,
            }),
            None => notes.push(format!(
                "{}: reg entry {name} ({addr:#x}) does not translate to a physical address \
                 through its parents' ranges; left out",
                node.path()
            )),
        }
    }
    out
}

/// `addr`, a `reg` address of node `index`, as a physical address: through every
/// ancestor bus's `ranges` (empty: identity); `None` if one has none or no window
/// holds it.
fn translate(tree: &DeviceTree<'_>, index: usize, addr: u64) -> Option<u64> {
    let mut addr = addr;
    let mut bus = tree.node(index)?.parent()?;
    loop {
        let node = tree.node(bus)?;
        let Some(grand) = node.parent() else {
            return Some(addr); // the root: physical
        };
        let ranges = node.property("ranges")?;
        if !ranges.is_empty() {
            let (child, size) = tree.child_cells(bus).ok()?;
            let (parent, _) = tree.child_cells(grand).ok()?;
            addr = tuples(ranges, &[child, parent, size])
                .iter()
                .find_map(|w| match w.as_slice() {
                    &[c, p, len] if addr >= c && addr - c < len => p.checked_add(addr - c),
                    _ => None,
                })?;
        }
        bus = grand;
    }
}

/// Entries of `widths` cells each (1 or 2 cells per number); a trailing partial entry
/// is dropped.
fn tuples(raw: &[u8], widths: &[u32]) -> Vec<Vec<u64>> {
    let entry: usize = widths.iter().map(|&w| w as usize * 4).sum();
    if entry == 0 {
        return Vec::new();
    }
    raw.chunks_exact(entry)
        .map(|chunk| {
            let mut at = 0;
            widths
                .iter()
                .map(|&w| {
                    let n = w as usize * 4;
                    let v = chunk
                        .get(at..at + n)
                        .unwrap_or_default()
                        .iter()
                        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
                    at += n;
                    v
                })
                .collect()
        })
        .collect()
}

/// The strings of a string-list property (invalid UTF-8 pieces dropped).
fn strings(raw: &[u8]) -> Vec<String> {
    raw.split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| std::str::from_utf8(s).ok().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_read_one_and_two_cell_numbers() {
        let raw = [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 9];
        assert_eq!(tuples(&raw, &[1, 2]), [vec![1, 0x2_0000_0003]]);
        assert!(tuples(&raw, &[]).is_empty());
        assert_eq!(strings(b"atcm\0btcm\0"), ["atcm", "btcm"]);
    }
}
