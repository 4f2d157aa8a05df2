//! Hand-written SVG bar charts for the fragmentation report: one horizontal bar per
//! contender, no dependencies, readable in any browser or on GitHub.

#![forbid(unsafe_code)]

use std::fmt::Write as _;

/// Escapes text for SVG content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart of `rows` (label, value); bars scale to `max` (values above
/// are clipped, `NaN` rows are drawn as "n/a"). `unit` is appended to the printed values.
#[must_use]
pub fn bar_chart(title: &str, unit: &str, rows: &[(String, f64)], max: f64) -> String {
    const LABEL: f64 = 230.0;
    const BAR: f64 = 420.0;
    const ROW: f64 = 22.0;
    let height = 40.0 + ROW * rows.len() as f64 + 10.0;
    let width = LABEL + BAR + 110.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="22" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = 40.0 + ROW * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            y + 14.0,
            escape(label)
        );
        if value.is_nan() {
            let _ = writeln!(
                svg,
                r##"<text x="{LABEL}" y="{}" fill="#888">n/a</text>"##,
                y + 14.0
            );
            continue;
        }
        let len = if max > 0.0 {
            (value / max).clamp(0.0, 1.0) * BAR
        } else {
            0.0
        };
        let _ = writeln!(
            svg,
            r##"<rect x="{LABEL}" y="{}" width="{len:.1}" height="{}" fill="#4477aa"/>"##,
            y + 3.0,
            ROW - 6.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}">{value:.2}{}</text>"#,
            LABEL + len + 6.0,
            y + 14.0,
            escape(unit)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::bar_chart;

    #[test]
    fn draws_one_scaled_bar_per_row_and_escapes_labels() {
        let rows = vec![
            ("a<b".to_owned(), 50.0),
            ("full".to_owned(), 100.0),
            ("none".to_owned(), f64::NAN),
        ];
        let svg = bar_chart("T & t", "%", &rows, 100.0);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<rect").count(), 1 + 2); // background + two bars
        assert!(svg.contains(r#"width="210.0""#)); // half of the 420 px bar
        assert!(svg.contains(r#"width="420.0""#));
        assert!(svg.contains("a&lt;b") && svg.contains("T &amp; t") && svg.contains("n/a"));
    }
}
