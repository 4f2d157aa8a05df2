//! The region map: which regions a device draws from, in order.
//!
//! This module owns [`RegionMap`] (device name -> ordered region names, plus a `*`
//! entry for unlisted devices), its text form `camera=video,common;*=common` and the
//! parser's errors. It deals in names only: resolving them against real regions is the
//! [`AreaSet`](crate::AreaSet)'s job. It is setup-time code (it allocates) and must
//! never be consulted by name on the allocation path.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use crate::fallible::{try_push, try_reserve};
use crate::name::NameProblem;
use crate::{Error, Name};

/// The device name of the fallback entry in the text form.
pub const FALLBACK_DEVICE: &str = "*";

/// What is wrong with a token of a region map's text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapProblem {
    /// An entry without `=` between device and regions.
    MissingEquals,
    /// A device or region name that is not a valid [`Name`].
    BadName(NameProblem),
    /// A device listed twice (or two `*` entries).
    DuplicateDevice,
    /// A region listed twice for one device.
    DuplicateRegion,
}

impl fmt::Display for MapProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingEquals => f.write_str("expected `device=region[,region...]`"),
            Self::BadName(problem) => write!(f, "the name {problem}"),
            Self::DuplicateDevice => f.write_str("the device already has an entry"),
            Self::DuplicateRegion => f.write_str("the region is already in this entry"),
        }
    }
}

/// One device's ordered list of regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The device.
    pub device: Name,
    /// Its regions, in the order they are tried.
    pub regions: Vec<Name>,
}

/// Device names to ordered region lists, with a fallback for unlisted devices.
///
/// ```
/// use contig_cma::RegionMap;
/// let map: RegionMap = "camera=video,common; *=common".parse().unwrap();
/// let names = |d| map.regions_for(d).unwrap().iter().map(|n| n.as_str()).collect::<Vec<_>>();
/// assert_eq!(names("camera"), ["video", "common"]);
/// assert_eq!(names("uart"), ["common"]); // the `*` entry
/// assert_eq!(map.to_string(), "camera=video,common;*=common");
/// let err = "camera=video,,common".parse::<RegionMap>().unwrap_err();
/// assert_eq!(err.to_string(), "region map: \"\" at byte 13: the name is empty");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegionMap {
    routes: Vec<Route>,
    fallback: Option<Vec<Name>>,
}

impl RegionMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `device` (or [`FALLBACK_DEVICE`], `*`) to `regions`, tried in order.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`], [`Error::EmptyRegionList`], or [`Error::MapSyntax`] with
    /// [`MapProblem::DuplicateDevice`] / [`MapProblem::DuplicateRegion`] (position 0).
    /// The map is unchanged on error.
    pub fn route(&mut self, device: &str, regions: &[&str]) -> Result<&mut Self, Error> {
        let mut names = Vec::new();
        try_reserve(&mut names, regions.len(), "region names")?;
        for region in regions {
            let name = Name::new(region)?;
            if names.contains(&name) {
                return Err(syntax(region, 0, MapProblem::DuplicateRegion));
            }
            try_push(&mut names, name, "region names")?;
        }
        if names.is_empty() {
            return Err(Error::EmptyRegionList);
        }
        self.insert(device, 0, names)?;
        Ok(self)
    }

    /// The regions for `device`: its own entry, else the fallback entry, else `None`.
    #[must_use]
    pub fn regions_for(&self, device: &str) -> Option<&[Name]> {
        self.routes
            .iter()
            .find(|r| r.device == device)
            .map(|r| r.regions.as_slice())
            .or(self.fallback.as_deref())
    }

    /// The per-device entries, in insertion order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> + '_ {
        self.routes.iter()
    }

    /// The fallback (`*`) entry.
    #[must_use]
    pub fn fallback(&self) -> Option<&[Name]> {
        self.fallback.as_deref()
    }

    /// Parses the text form: entries `device=region[,region...]` separated by `;`,
    /// device `*` for the fallback; whitespace around names and empty entries are
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::MapSyntax`] naming the first bad token and its byte offset.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut map = Self::new();
        let mut pos = 0;
        for entry in text.split(';') {
            map.parse_entry(entry, pos)?;
            pos += entry.len() + 1;
        }
        Ok(map)
    }

    fn parse_entry(&mut self, entry: &str, pos: usize) -> Result<(), Error> {
        let (lead, trimmed) = trim(entry);
        if trimmed.is_empty() {
            return Ok(());
        }
        let Some((device_text, list)) = entry.split_once('=') else {
            return Err(syntax(trimmed, pos + lead, MapProblem::MissingEquals));
        };
        let (dlead, device) = trim(device_text);
        let device_pos = pos + dlead;
        if device != FALLBACK_DEVICE {
            check_token(device, device_pos)?;
        }
        let mut names = Vec::new();
        let mut at = pos + device_text.len() + 1;
        for token in list.split(',') {
            let (rlead, region) = trim(token);
            let name = check_token(region, at + rlead)?;
            if names.contains(&name) {
                return Err(syntax(region, at + rlead, MapProblem::DuplicateRegion));
            }
            try_push(&mut names, name, "region names")?;
            at += token.len() + 1;
        }
        self.insert(device, device_pos, names)
    }

    /// Adds an entry, rejecting a device that already has one.
    fn insert(&mut self, device: &str, pos: usize, regions: Vec<Name>) -> Result<(), Error> {
        let duplicate = syntax(device, pos, MapProblem::DuplicateDevice);
        if device == FALLBACK_DEVICE {
            if self.fallback.is_some() {
                return Err(duplicate);
            }
            self.fallback = Some(regions);
            return Ok(());
        }
        let device = Name::new(device)?;
        if self.routes.iter().any(|r| r.device == device) {
            return Err(duplicate);
        }
        try_push(
            &mut self.routes,
            Route { device, regions },
            "region-map routes",
        )?;
        Ok(())
    }
}

impl FromStr for RegionMap {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

/// The text form [`RegionMap::parse`] reads, fallback last.
impl fmt::Display for RegionMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self
            .routes
            .iter()
            .map(|r| (r.device.as_str(), r.regions.as_slice()))
            .chain(self.fallback.as_deref().map(|f| (FALLBACK_DEVICE, f)));
        for (i, (device, regions)) in entries.enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{device}=")?;
            for (j, region) in regions.iter().enumerate() {
                if j > 0 {
                    f.write_str(",")?;
                }
                f.write_str(region.as_str())?;
            }
        }
        Ok(())
    }
}

/// Leading whitespace length and the trimmed text.
fn trim(s: &str) -> (usize, &str) {
    let start = s.trim_start();
    (s.len() - start.len(), start.trim_end())
}

fn check_token(token: &str, pos: usize) -> Result<Name, Error> {
    match Name::problem(token) {
        None => Name::new(token),
        Some(problem) => Err(syntax(token, pos, MapProblem::BadName(problem))),
    }
}

fn syntax(token: &str, position: usize, problem: MapProblem) -> Error {
    Error::MapSyntax {
        token: Name::truncated(token),
        position,
        problem,
    }
}
