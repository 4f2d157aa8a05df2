//! Reading criterion's saved estimates (`target/criterion/**/new/{benchmark,estimates}.json`)
//! without a JSON dependency, for the `perf-table` binary. Only the handful of fields
//! the table needs are extracted; the files are written by criterion, not by users.

#![forbid(unsafe_code)]

use std::path::Path;

/// One benchmark's result, times in nanoseconds (per iteration: per pair here).
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Criterion group, e.g. `"pair/W1"`.
    pub group: String,
    /// Function id, e.g. `"first-fit/4K"`.
    pub function: String,
    /// Parameter, e.g. `"64MiB"`, if any.
    pub value: Option<String>,
    /// Median time per iteration.
    pub median: f64,
    /// Median absolute deviation of the samples.
    pub mad: f64,
}

/// The string value of `"key":"..."` in `json` (`None` for `null` or absent).
fn string_field(json: &str, key: &str) -> Option<String> {
    let rest = &json[json.find(&format!("\"{key}\":"))? + key.len() + 3..];
    let rest = rest.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// The `point_estimate` inside the object `"key":{...}` of `json`.
fn point_estimate(json: &str, key: &str) -> Option<f64> {
    let rest = &json[json.find(&format!("\"{key}\":{{"))?..];
    let rest = &rest[rest.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

/// Parses one benchmark from the text of its `benchmark.json` and `estimates.json`.
#[must_use]
pub fn parse(benchmark: &str, estimates: &str) -> Option<Estimate> {
    Some(Estimate {
        group: string_field(benchmark, "group_id")?,
        function: string_field(benchmark, "function_id")?,
        value: string_field(benchmark, "value_str"),
        median: point_estimate(estimates, "median")?,
        mad: point_estimate(estimates, "median_abs_dev")?,
    })
}

/// Every benchmark under `criterion_dir` (usually `target/criterion`).
#[must_use]
pub fn collect(criterion_dir: &Path) -> Vec<Estimate> {
    let mut found = Vec::new();
    let mut stack = vec![criterion_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "benchmark.json")
                && dir.file_name().is_some_and(|n| n == "new")
            {
                let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
                if let Some(e) = read("benchmark.json")
                    .zip(read("estimates.json"))
                    .and_then(|(b, e)| parse(&b, &e))
                {
                    found.push(e);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_ids_median_and_spread() {
        let benchmark = r#"{"group_id":"scaling","function_id":"talc","value_str":"64MiB","throughput":null,"full_id":"scaling/talc/64MiB","directory_name":"scaling/talc/64MiB","title":"scaling/talc/64MiB"}"#;
        let estimates = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.5,"upper_bound":2.5},"point_estimate":41.25,"standard_error":0.2},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.3},"point_estimate":0.5,"standard_error":0.01},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.3},"point_estimate":0.7,"standard_error":0.01}}"#;
        let e = parse(benchmark, estimates).unwrap();
        assert_eq!((e.group.as_str(), e.function.as_str()), ("scaling", "talc"));
        assert_eq!(e.value.as_deref(), Some("64MiB"));
        assert!((e.median - 41.25).abs() < 1e-9 && (e.mad - 0.5).abs() < 1e-9);
        let no_value = benchmark.replace(r#""64MiB""#, "null");
        assert_eq!(parse(&no_value, estimates).unwrap().value, None);
    }
}
