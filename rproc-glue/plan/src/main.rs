//! `rproc-plan`: does this firmware fit the memory reserved for it on this board, and
//! where does everything go?
//!
//! The planner reads a board's device tree with contig-dma-pool's `fdt` binding,
//! builds its regions, pools and devices on simulated memory, boots the remote
//! processor's firmware through [`contig_rproc_glue::Rproc`] (nothing is started), and
//! prints the memory map, every resource-table entry with where it landed,
//! fragmentation per region and every problem. Exit status: 0 fits, 1 does not fit,
//! 2 usage or input error. `--svg` also draws the map. With no arguments it runs on an
//! embedded DK2-like board and the repo's sample OpenAMP firmware (see `sample`).
//!
//! This file owns the command: reading inputs, choosing defaults and the exit status.
//! It must never place anything itself (`plan` does, through rproc-glue).
#![forbid(unsafe_code)]

mod args;
mod board;
mod map;
mod plan;
mod problem;
mod report;
mod sample;
mod svg;
mod upstream;

use std::path::Path;
use std::process::ExitCode;

use contig_dma_pool::fdt::{DeviceTree, Layout, Options, Role};

use args::{Args, Command};

/// The default board: STM32MP157 DK2-like, rings sized for OpenAMP's 256 buffers.
const DEFAULT_DTB: &[u8] = include_bytes!("../tests/fixtures/dt/dk2-openamp.dtb");
/// The default firmware: exactly `sample::image()` (a test checks it).
const DEFAULT_FIRMWARE: &[u8] = include_bytes!("../tests/fixtures/openamp-m4.elf");
/// The default board's remote processor.
const DEFAULT_RPROC: &str = "m4_rproc";

/// Exit status when the firmware does not fit.
const DOES_NOT_FIT: u8 = 1;
/// Exit status of usage and input errors.
const INPUT_ERROR: u8 = 2;

fn main() -> ExitCode {
    match args::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{}", args::usage());
            ExitCode::SUCCESS
        }
        Ok(Command::WriteSample(path)) => write_sample(&path),
        Ok(Command::WriteUpstream(dir)) => write_upstream(&dir),
        Ok(Command::Plan(args)) => match run(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(DOES_NOT_FIT),
            Err(message) => fail(&message),
        },
        Err(message) => fail(&format!("{message} (see --help)")),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("rproc-plan: error: {message}");
    ExitCode::from(INPUT_ERROR)
}

fn write_sample(path: &Path) -> ExitCode {
    match std::fs::write(path, sample::image()) {
        Ok(()) => {
            println!("wrote the sample firmware to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("cannot write {}: {e}", path.display())),
    }
}

fn write_upstream(dir: &Path) -> ExitCode {
    for (name, bytes) in upstream::images() {
        let path = dir.join(name);
        if let Err(e) = std::fs::write(&path, bytes) {
            return fail(&format!("cannot write {}: {e}", path.display()));
        }
    }
    println!(
        "wrote the upstream-derived firmware images to {}",
        dir.display()
    );
    ExitCode::SUCCESS
}

/// Plans and prints; `Ok(fits)`, or an input error.
fn run(args: &Args) -> Result<bool, String> {
    let (dtb, board) = input(args.dtb.as_deref(), DEFAULT_DTB, "embedded DK2-like board")?;
    let (image, firmware) = input(
        args.firmware.as_deref(),
        DEFAULT_FIRMWARE,
        "embedded sample OpenAMP firmware",
    )?;
    let rproc = args.rproc.as_deref().unwrap_or(DEFAULT_RPROC);
    // Read as Linux boots: a reserved-memory node that breaks a rule is skipped with a
    // warning unless the planned processor uses it; a malformed blob is refused.
    let tree =
        DeviceTree::parse(&dtb).map_err(|e| format!("{board}: malformed device tree: {e}"))?;
    let layout = Layout::from_tree(&tree, &Options::new().tolerant())
        .map_err(|e| format!("{board}: malformed device tree: {e}"))?;
    let binding = plan::find_rproc(&layout, rproc).map_err(|e| format!("{board}: {e}"))?;
    if let Some(s) = binding.skipped.first() {
        let why = layout
            .skipped
            .iter()
            .find(|k| k.path == s.node)
            .map_or_else(String::new, |k| format!(": {} ({})", k.error, k.linux()));
        return Err(format!(
            "{board}: {} memory-region[{}] is {}, which cannot be used{why}",
            binding.path, s.index, s.node
        ));
    }
    let processor = board::read(&tree, binding.node, args.profile.as_deref())?;
    let profile = processor.profile;
    if binding.regions.len() < profile.min_regions {
        return Err(format!(
            "{board}: {} has {} memory-region entries; its driver (profile {}, Linux {}) \
             refuses a processor with fewer than {}",
            binding.path,
            binding.regions.len(),
            profile.name,
            profile.driver,
            profile.min_regions
        ));
    }
    let first_is_pool = binding
        .first_region()
        .and_then(|b| layout.regions.get(b.region))
        .is_some_and(|r| matches!(r.role, Role::CoherentPool | Role::RestrictedPool));
    if profile.pool_required && !first_is_pool {
        return Err(format!(
            "{board}: {}'s first memory-region is not a shared-dma-pool; its driver \
             (profile {}, Linux {}) needs it as the DMA pool and refuses the processor",
            binding.path, profile.name, profile.driver
        ));
    }
    plan::check_backends(&layout, &args.backends).map_err(|e| format!("{board}: {e}"))?;
    let plan = plan::plan(&layout, binding, &processor, &image, &args.backends)
        .map_err(|e| format!("{firmware}: {e}"))?;
    let map = map::build(&layout, &plan);
    print!(
        "{}",
        report::write(&board, &firmware, &layout, &processor, &plan, &map)
    );
    if let Some(path) = &args.svg {
        let title = format!("{firmware} on {board}: {}", plan.binding.path);
        std::fs::write(path, svg::render(&title, &plan.problems, &map))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("memory map drawn in {}", path.display());
    }
    Ok(plan.fits())
}

/// The bytes of `path`, or the embedded default; with the name to show.
fn input(path: Option<&Path>, default: &[u8], name: &str) -> Result<(Vec<u8>, String), String> {
    match path {
        Some(p) => std::fs::read(p)
            .map(|bytes| (bytes, p.display().to_string()))
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        None => Ok((default.to_vec(), name.to_owned())),
    }
}
