//! The memory map as a picture: one SVG file, written by hand.
//!
//! This module owns [`render`]: a title with the verdict, a legend, then one band per
//! region (each on its own linear scale, so a 4K ring region is as readable as a 256K
//! SRAM) with its name, addresses and use on the left and every placed range drawn in
//! the colour of its kind, labelled inside when it is wide enough and underneath
//! otherwise. It must never read anything but the [`MemoryMap`].
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use crate::map::{AllocKind, MemoryMap};

const WIDTH: u32 = 1100;
const BAND_X: f64 = 330.0;
const BAND_W: f64 = 740.0;
const BAND_H: f64 = 30.0;
const ROW_H: f64 = 92.0;
const TOP: f64 = 112.0;
/// Characters of a problem line (11.5px text across the picture).
const PROBLEM_CHARS: usize = 165;
/// Labels that fit under a band before the next region's row.
const MAX_BELOW: u32 = 4;
/// Average width of a character at 11px, to decide whether a label fits its range.
const CHAR_W: f64 = 6.4;

const KINDS: [AllocKind; 7] = [
    AllocKind::Segment,
    AllocKind::Table,
    AllocKind::Carveout,
    AllocKind::Vring,
    AllocKind::VdevBuffer,
    AllocKind::Trace,
    AllocKind::Devmem,
];

fn colour(kind: AllocKind) -> &'static str {
    match kind {
        AllocKind::Carveout => "#4e79a7",
        AllocKind::Vring => "#f28e2b",
        AllocKind::VdevBuffer => "#59a14f",
        AllocKind::Trace => "#e15759",
        AllocKind::Devmem => "#76b7b2",
        AllocKind::Segment => "#9c755f",
        AllocKind::Table => "#edc948",
    }
}

/// Drawing order: whole segments first, then what lies inside them.
fn layer(kind: AllocKind) -> u8 {
    match kind {
        AllocKind::Segment | AllocKind::VdevBuffer => 0,
        AllocKind::Carveout | AllocKind::Vring | AllocKind::Devmem => 1,
        AllocKind::Table | AllocKind::Trace => 2,
    }
}

/// The SVG document for `map`; `title` names firmware, board and processor.
pub(crate) fn render(title: &str, problems: &[String], map: &MemoryMap) -> String {
    let rows = u32::try_from(map.regions.len()).unwrap_or(u32::MAX);
    let lines: Vec<String> = problems
        .iter()
        .enumerate()
        .flat_map(|(n, p)| wrap(&format!("{}. {p}", n + 1), PROBLEM_CHARS))
        .collect();
    let bands_end = f64::from(rows).mul_add(ROW_H, TOP);
    let listed = u32::try_from(lines.len()).unwrap_or(u32::MAX);
    let extra = if lines.is_empty() {
        0.0
    } else {
        f64::from(listed).mul_add(15.0, 30.0)
    };
    let height = bands_end + extra + 20.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let (verdict, vcolour) = if problems.is_empty() {
        ("FITS".to_owned(), "#2e7d32")
    } else {
        (
            format!("DOES NOT FIT: {} problem(s), listed below", problems.len()),
            "#c62828",
        )
    };
    let _ = writeln!(
        out,
        r##"<text x="16" y="26" font-size="15" font-weight="bold">{}</text>
<text x="16" y="48" font-size="14" font-weight="bold" fill="{vcolour}">{}</text>"##,
        escape(&clip(title, 110)),
        escape(&verdict)
    );
    legend(&mut out, map);
    for (i, region) in map.regions.iter().enumerate() {
        let y = f64::from(u32::try_from(i).unwrap_or(u32::MAX)).mul_add(ROW_H, TOP);
        band(&mut out, map, i, y, region);
    }
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            r##"<text x="16" y="{:.1}" font-size="13" font-weight="bold" fill="#c62828">Problems</text>"##,
            bands_end + 14.0
        );
        for (k, line) in (0u32..).zip(&lines) {
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{:.1}" font-size="11.5" fill="#263238">{}</text>"##,
                // SVG collapses leading spaces: continuation lines are indented by x.
                if line.starts_with(' ') { 32 } else { 16 },
                f64::from(k).mul_add(15.0, bands_end + 32.0),
                escape(line.trim_start())
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

/// `text` in lines of at most `width` characters, broken at spaces; continuation
/// lines are indented.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.trim().is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, "    ".to_owned()));
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// The colours of the kinds drawn (only those), free space, and how to read the scale.
fn legend(out: &mut String, map: &MemoryMap) {
    let mut x = 16.0;
    let drawn = KINDS.into_iter().filter(|&kind| {
        map.allocs
            .iter()
            .any(|a| a.kind == kind && a.region.is_some())
    });
    for kind in drawn {
        let _ = writeln!(
            out,
            r##"<rect x="{x:.1}" y="62" width="14" height="14" fill="{}" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="74">{}</text>"##,
            colour(kind),
            x + 19.0,
            kind.word()
        );
        x += 19.0 + CHAR_W * kind.word().len() as f64 + 22.0;
    }
    let _ = writeln!(
        out,
        r##"<rect x="{x:.1}" y="62" width="14" height="14" fill="#eceff1" stroke="#333" stroke-width="0.5"/><text x="{:.1}" y="74">free</text>"##,
        x + 19.0
    );
    let _ = writeln!(
        out,
        r##"<text x="16" y="94" font-size="11" fill="#546e7a">Each band is one region at its own scale: all bands have the same width whatever the region's size (sizes are written on the left).</text>"##
    );
}

fn band(out: &mut String, map: &MemoryMap, i: usize, y: f64, r: &crate::map::RegionRow) {
    let _ = writeln!(
        out,
        r##"<g class="region" id="region-{}">
<text x="16" y="{:.1}" font-weight="bold" font-size="13">{}</text>
<text x="16" y="{:.1}" fill="#444">{}</text>
<text x="16" y="{:.1}" fill="#444">{}</text>
<text x="16" y="{:.1}" fill="#444">{}</text>
<text x="16" y="{:.1}" fill="#444">{}</text>
<rect x="{BAND_X}" y="{y:.1}" width="{BAND_W}" height="{BAND_H}" fill="#eceff1" stroke="#37474f"/>"##,
        escape(&r.name),
        y + 12.0,
        escape(&r.name),
        y + 27.0,
        escape(&format!(
            "{:#x} +{:#x} ({})",
            r.base,
            r.size,
            size_words(r.size)
        )),
        y + 41.0,
        escape(&clip(&r.flags, 44)),
        y + 55.0,
        escape(&clip(&r.role, 44)),
        y + 69.0,
        escape(&format!(
            "used {:#x} · free {:#x} · {}",
            r.used,
            r.free,
            if r.backend == crate::map::NO_BACKEND {
                "no allocator"
            } else {
                &r.backend
            }
        )),
    );
    let mut allocs: Vec<_> = map.allocs.iter().filter(|a| a.region == Some(i)).collect();
    allocs.sort_by_key(|a| (layer(a.kind), a.pa));
    let scale = |pa: u64| {
        #[allow(clippy::cast_precision_loss)] // offsets inside a region: far below 2^52
        let share = pa.saturating_sub(r.base) as f64 / r.size.max(1) as f64;
        BAND_X + BAND_W * share.clamp(0.0, 1.0)
    };
    let (mut below, mut hidden) = (0u32, 0u32);
    for a in allocs {
        let x = scale(a.pa);
        let w = (scale(a.pa.saturating_add(a.len)) - x).max(2.0);
        let tip = format!(
            "{} {}: pa {:#x} +{:#x}{}",
            a.kind.word(),
            a.label,
            a.pa,
            a.len,
            a.da.map_or_else(String::new, |d| format!(", da {d:#x}"))
        );
        let inset = if layer(a.kind) == 0 { 0.0 } else { 4.0 };
        let _ = writeln!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{:.1}" fill="{}" stroke="#263238" stroke-width="0.5" fill-opacity="0.9"><title>{}</title></rect>"##,
            y + inset,
            BAND_H - 2.0 * inset,
            colour(a.kind),
            escape(&tip)
        );
        let text = format!("{} {}", a.label, at(a));
        if CHAR_W.mul_add(text.len() as f64, 6.0) < w {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="{}" font-size="11">{}</text>"##,
                x + 4.0,
                y + 19.0,
                text_colour(a.kind),
                escape(&text)
            );
        } else if below == MAX_BELOW {
            hidden += 1;
        } else {
            let ty = f64::from(below).mul_add(13.0, y + BAND_H + 13.0);
            let text = format!("{} {} +{:#x}", a.label, at(a), a.len);
            let mid = x + w / 2.0;
            // Past the right edge, the label ends at its line instead of starting there.
            let (tx, anchor) = if CHAR_W.mul_add(text.len() as f64, mid) > f64::from(WIDTH) - 8.0 {
                (mid - 3.0, "end")
            } else {
                (mid + 3.0, "start")
            };
            let _ = writeln!(
                out,
                r##"<line x1="{mid:.1}" y1="{:.1}" x2="{mid:.1}" y2="{:.1}" stroke="#607d8b" stroke-width="0.7"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="#263238" text-anchor="{anchor}">{}</text>"##,
                y + BAND_H,
                ty - 9.0,
                escape(&text)
            );
            below += 1;
        }
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" fill="#263238" text-anchor="end">+{hidden} more small placements (see the text report)</text>"##,
            BAND_X + BAND_W,
            y + BAND_H + 13.0
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{BAND_X}" y="{:.1}" font-size="10" fill="#78909c">{:#x}</text><text x="{:.1}" y="{:.1}" font-size="10" fill="#78909c" text-anchor="end">{:#x}</text>
</g>"##,
        y - 3.0,
        r.base,
        BAND_X + BAND_W,
        y - 3.0,
        r.base.saturating_add(r.size)
    );
}

/// `@pa`, with the device address when the remote sees it elsewhere.
fn at(a: &crate::map::Alloc) -> String {
    match a.da {
        Some(da) if da != a.pa => format!("@{:#x} (da {da:#x})", a.pa),
        _ => format!("@{:#x}", a.pa),
    }
}

fn text_colour(kind: AllocKind) -> &'static str {
    match kind {
        AllocKind::Table | AllocKind::Devmem => "#000000",
        _ => "#ffffff",
    }
}

fn size_words(size: u64) -> String {
    match size {
        s if s >= 1 << 30 && s % (1 << 30) == 0 => format!("{} GiB", s >> 30),
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// `s` cut to `max` characters, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text safe inside SVG elements and attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_markup_inert() {
        assert_eq!(escape(r#"<a&"'>"#), "&lt;a&amp;&quot;&apos;&gt;");
    }

    #[test]
    fn long_problems_wrap_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "    cc", "    dd"]);
        assert_eq!(wrap("short", 80), ["short"]);
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(size_words(0x4000), "16 KiB");
        assert_eq!(size_words(128 << 20), "128 MiB");
        assert_eq!(size_words(1000), "1000 B");
    }
}
