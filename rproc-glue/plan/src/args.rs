//! The planner's command line.
//!
//! This module owns [`Args`] (what the user asked for), [`Command`] and [`usage`]. It
//! only parses: it must never read files or look at a device tree.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use contig_dma_pool::cma::BUILTIN_BACKENDS;

/// The help text (`--help`), listing the backends the registry holds.
pub(crate) fn usage() -> String {
    USAGE.replace("{backends}", &BUILTIN_BACKENDS.join(", "))
}

/// [`usage`] before the backend names are filled in.
const USAGE: &str = "\
rproc-plan: does this firmware fit the memory reserved for it on this board, and
where does everything go?

Builds the board's /reserved-memory regions, pools and devices from its device tree
on simulated memory, boots the remote processor's firmware through contig-rproc-glue
(parse the ELF and its resource table, match or allocate every carveout, vring and
vdev buffer pool, write the addresses back, load the segments; nothing is started),
and prints the memory map, where each table entry landed, fragmentation per region
and every problem found.

USAGE:
    rproc-plan [--dtb BOARD.dtb] [--firmware FW.elf] [--rproc NODE]
               [--profile NAME] [--backend REGION=NAME]... [--svg MAP.svg]
    rproc-plan --write-sample FW.elf
    rproc-plan --write-upstream-firmware DIR
    rproc-plan --help

With no --dtb and --firmware it runs on its embedded default: a STM32MP157 DK2-like
board (rproc-glue/plan/tests/fixtures/dt/dk2-openamp.dts) and the sample OpenAMP firmware
(rproc-glue/plan/tests/fixtures/openamp-m4.elf), remote processor m4_rproc.

OPTIONS:
    --dtb FILE             flattened device tree of the board (default: embedded DK2-like)
    --firmware FILE        firmware ELF image (default: embedded sample)
    --rproc NODE           the remote processor's node: full path, label or node name
                           (default: m4_rproc)
    --profile NAME         read the processor as this Linux driver does (stm32,
                           ti-k3-r5f, ti-k3-m4f, ti-k3-dsp, imx, xlnx-zynqmp-r5f,
                           xlnx-versal-r5f, generic); default: chosen from its
                           compatible, generic if none matches
    --backend REGION=NAME  allocator backend of a CMA area, repeatable; one of
                           {backends}
    --svg FILE             also write a picture of the memory map as SVG
    --write-sample FILE    write the sample firmware ELF and exit
    --write-upstream-firmware DIR
                           write the test firmware images whose resource tables are
                           transcribed from upstream sources (Zephyr, OpenAMP) and exit
    -h, --help             this text

EXIT STATUS:
    0  the firmware fits
    1  it does not fit (every problem is listed)
    2  usage or input error (unreadable file, malformed device tree or ELF, firmware
       for another machine, unknown processor, profile or backend, a processor whose
       memory-region node cannot be used)
";

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Print the help.
    Help,
    /// Write the sample firmware to a file.
    WriteSample(PathBuf),
    /// Write the upstream-derived firmware images into a folder.
    WriteUpstream(PathBuf),
    /// Plan a firmware on a board.
    Plan(Args),
}

/// The inputs of a plan.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Args {
    /// The board's DTB (`None`: the embedded one).
    pub(crate) dtb: Option<PathBuf>,
    /// The firmware (`None`: the embedded sample).
    pub(crate) firmware: Option<PathBuf>,
    /// The processor's node (`None`: the default board's M4).
    pub(crate) rproc: Option<String>,
    /// The platform profile (`None`: chosen from the processor's compatible).
    pub(crate) profile: Option<String>,
    /// `(region, backend)` pairs.
    pub(crate) backends: Vec<(String, String)>,
    /// Where to write the SVG map.
    pub(crate) svg: Option<PathBuf>,
}

/// Parses the arguments after the program name.
///
/// # Errors
/// A message naming the argument at fault.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--write-sample" => return Ok(Command::WriteSample(PathBuf::from(value()?))),
            "--write-upstream-firmware" => {
                return Ok(Command::WriteUpstream(PathBuf::from(value()?)));
            }
            "--dtb" => set(&mut out.dtb, &flag, PathBuf::from(value()?))?,
            "--firmware" => set(&mut out.firmware, &flag, PathBuf::from(value()?))?,
            "--rproc" => set(&mut out.rproc, &flag, value()?)?,
            "--profile" => set(&mut out.profile, &flag, value()?)?,
            "--svg" => set(&mut out.svg, &flag, PathBuf::from(value()?))?,
            "--backend" => out.backends.push(backend(&value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Plan(out))
}

fn set<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("{flag} given twice"));
    }
    Ok(())
}

fn backend(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((region, name)) if !region.is_empty() && !name.is_empty() => {
            Ok((region.to_owned(), name.to_owned()))
        }
        _ => Err(format!(
            "--backend takes REGION=NAME (e.g. linux-cma=bitmap), not {spec:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags_take_values_separately_or_inline() {
        let Ok(Command::Plan(a)) = parse_str(&[
            "--dtb",
            "b.dtb",
            "--firmware=fw.elf",
            "--backend",
            "cma=bitmap",
            "--backend=x=genalloc",
        ]) else {
            panic!("not a plan");
        };
        assert_eq!(a.dtb, Some(PathBuf::from("b.dtb")));
        assert_eq!(a.firmware, Some(PathBuf::from("fw.elf")));
        assert_eq!(
            a.backends,
            [
                ("cma".to_owned(), "bitmap".to_owned()),
                ("x".to_owned(), "genalloc".to_owned())
            ]
        );
    }

    #[test]
    fn bad_arguments_are_named() {
        assert_eq!(parse_str(&["--dtb"]), Err("--dtb needs a value".to_owned()));
        assert!(
            parse_str(&["--frobnicate"])
                .unwrap_err()
                .contains("--frobnicate")
        );
        assert!(
            parse_str(&["--backend", "bitmap"])
                .unwrap_err()
                .contains("REGION=NAME")
        );
        assert!(
            parse_str(&["--rproc", "a", "--rproc", "b"])
                .unwrap_err()
                .contains("twice")
        );
        assert_eq!(parse_str(&["-h"]), Ok(Command::Help));
    }
}
