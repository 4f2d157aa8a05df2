//! Upstream boards and upstream firmware through the planner, one test per (board,
//! processor, firmware) pair, each expecting the verdict Linux's remoteproc driver for
//! that processor would reach, with the reason beside it.
//!
//! Boards: `tests/fixtures/dt/{stm32mp157c-dk2,k3-am642-evm,k3-am625-sk,
//! zynqmp-openamp-split,imx8mp-evk-rpmsg}.dts` (extracted from upstream files named at
//! their top).
//! Firmware: `tests/fixtures/firmware/*.elf`, whose resource tables are transcribed
//! from Zephyr's and OpenAMP's sources by `rproc-plan --write-upstream-firmware`
//! (`src/upstream.rs` names each source).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rproc-plan");
const HERE: &str = env!("CARGO_MANIFEST_DIR");

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn plan(board: &str, rproc: &str, firmware: &str) -> Run {
    let out = Command::new(BIN)
        .args([
            "--dtb",
            &format!("{HERE}/tests/fixtures/dt/{board}.dtb"),
            "--rproc",
            rproc,
            "--firmware",
            &format!("{HERE}/tests/fixtures/firmware/{firmware}"),
        ])
        .output()
        .unwrap();
    Run {
        status: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The words of the first report line whose words start with those of `what`.
fn line<'a>(report: &'a str, what: &str) -> Vec<&'a str> {
    let what: Vec<&str> = what.split_whitespace().collect();
    report
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.starts_with(&what))
        .unwrap_or_else(|| panic!("no line starting with {what:?} in\n{report}"))
}

fn fits(run: &Run) {
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Problems: none"), "{}", run.stdout);
    assert!(run.stdout.ends_with("VERDICT: FITS\n"));
}

/// STM32MP157C-DK2, Cortex-M4, Zephyr's `openamp_rsc_table` sample: FITS. stm32_rproc
/// registers every memory-region as a carveout at the address the MLAHB dma-ranges
/// give it, so the code linked at device address 0 lands in RETRAM (0x38000000); the
/// 8-buffer rings aligned to 16 need one page each, as the 4K vdev0vringN regions
/// have; rpmsg's 16 x 512 B buffers fit the 16K vdev0buffer.
#[test]
fn dk2_m4_zephyr_fits_with_code_at_da_0() {
    let run = plan("stm32mp157c-dk2", "m4_rproc", "zephyr-stm32mp157c-dk2.elf");
    fits(&run);
    let out = &run.stdout;
    assert!(out.contains("profile:   stm32 (Linux drivers/remoteproc/stm32_rproc.c"));
    assert!(out.contains("DMA pool:  none"));
    assert_eq!(
        line(out, "0 0x0"),
        ["0", "0x0", "0x38000000", "0x4000", "0x40", "loaded"]
    );
    assert_eq!(
        line(out, "vring 0")[2..6],
        ["0x10040000", "0x10040000", "0x1000", "vdev0vring0"]
    );
    assert_eq!(
        line(out, "vring 1")[2..6],
        ["0x10041000", "0x10041000", "0x1000", "vdev0vring1"]
    );
    let buffers = line(out, "vdev0buffer 0x10042000");
    assert_eq!(buffers[buffers.len() - 2..], ["0x2000", "0x2000"]);
}

/// STM32MP157C-DK2, Cortex-M4, the repository's OpenAMP sample (rings aligned to
/// 0x1000): DOES NOT FIT. Linux's rproc_alloc_vring finds the vdev0vringN carveouts by
/// name and refuses both: a page-aligned ring of 16 buffers aligned to 0x1000 needs
/// 0x2000 bytes, the regions have 0x1000. Both rings are named.
#[test]
fn dk2_m4_openamp_sample_rings_do_not_fit() {
    let out = Command::new(BIN)
        .args([
            "--dtb",
            &format!("{HERE}/tests/fixtures/dt/stm32mp157c-dk2.dtb"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains("Problems (2)"), "{out}");
    assert!(out.contains("vring 0: num 16, align 0x1000, 0x2000 bytes, da ANY) does not fit memory-region vdev0vring0"));
    assert!(out.contains("vring 1: num 16, align 0x1000, 0x2000 bytes, da ANY) does not fit memory-region vdev0vring1"));
}

/// STM32MP157C-DK2 with an x86-64 image: refused as input (exit 2), naming both
/// machines; Linux's stm32 driver runs ELF32 ARM images only.
#[test]
fn dk2_m4_foreign_machine_is_an_input_error() {
    let run = plan("stm32mp157c-dk2", "m4_rproc", "zephyr-table-x86_64.elf");
    assert_eq!(run.status, 2, "{}", run.stdout);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains(
            "the image is ELF64 x86-64 (EM_X86_64), but m4@10000000 runs ELF32 ARM (EM_ARM) \
             (profile stm32, Linux drivers/remoteproc/stm32_rproc.c)"
        ),
        "{}",
        run.stderr
    );
}

/// One AM64x R5F core with Zephyr's table at the base of its DDR firmware region:
/// FITS. ti_k3_r5_remoteproc makes the first memory-region (r5f-dma-memory, 1M) the DMA
/// pool, where the ANY rings and rpmsg's buffers go, and the second (r5f-memory, 15M)
/// firmware memory; ATCM is at device address 0 (ti,loczrama = <1>). The optee and
/// ipc-memories nodes carry alignment next to reg, which Linux ignores: notes only.
fn am64x_core(rproc: &str, firmware: &str, dma: &str, ddr: &str, atcm: &str) {
    let run = plan("k3-am642-evm", rproc, firmware);
    fits(&run);
    let out = &run.stdout;
    assert!(out.contains("profile:   ti-k3-r5f (Linux drivers/remoteproc/ti_k3_r5_remoteproc.c"));
    for node in ["optee@9e800000", "ipc-memories@a5000000"] {
        assert!(out.contains(&format!(
            "note:      /reserved-memory/{node}: alignment next to reg is ignored"
        )));
    }
    assert!(!out.contains("warning:"), "{out}");
    assert_eq!(line(out, "internal:  atcm")[3], atcm);
    assert_eq!(line(out, "vring 0")[3], dma);
    assert_eq!(line(out, "1 ")[1..3], [ddr, ddr]);
}

#[test]
fn am64x_r5fss0_core0_zephyr_fits() {
    am64x_core(
        "main_r5fss0_core0",
        "zephyr-am64x-r5f0_0.elf",
        "0xa0000000",
        "0xa0100000",
        "0x78000000",
    );
}

#[test]
fn am64x_r5fss0_core1_zephyr_fits() {
    am64x_core(
        "main_r5fss0_core1",
        "zephyr-am64x-r5f0_1.elf",
        "0xa1000000",
        "0xa1100000",
        "0x78200000",
    );
}

#[test]
fn am64x_r5fss1_core0_zephyr_fits() {
    am64x_core(
        "main_r5fss1_core0",
        "zephyr-am64x-r5f1_0.elf",
        "0xa2000000",
        "0xa2100000",
        "0x78400000",
    );
}

#[test]
fn am64x_r5fss1_core1_zephyr_fits() {
    am64x_core(
        "main_r5fss1_core1",
        "zephyr-am64x-r5f1_1.elf",
        "0xa3000000",
        "0xa3100000",
        "0x78600000",
    );
}

/// AM64x core 0_1 given core 0_0's image: DOES NOT FIT. Its segment and table are
/// linked to 0xa0100000, core 0_0's memory; Linux's loader finds no carveout or
/// internal memory of core 0_1 there ("bad phdr da").
#[test]
fn am64x_r5fss0_core1_with_core0_image_does_not_fit() {
    let run = plan(
        "k3-am642-evm",
        "main_r5fss0_core1",
        "zephyr-am64x-r5f0_0.elf",
    );
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(
        "1. firmware segment 1 (da 0xa0100000, 0x10000 bytes): no memory of the processor \
         holds da 0xa0100000"
    ));
}

/// AM62x SK, M4F, Zephyr's table in the M4F's DDR region, code in IRAM at 0: FITS.
/// ti_k3_m4_remoteproc: first memory-region the DMA pool, second firmware memory, IRAM
/// at device address 0 (0x05000000) and DRAM at 0x30000 from reg-names.
#[test]
fn am62x_m4f_zephyr_fits() {
    let run = plan("k3-am625-sk", "mcu_m4fss", "zephyr-am62x-m4f.elf");
    fits(&run);
    let out = &run.stdout;
    assert!(out.contains("profile:   ti-k3-m4f (Linux drivers/remoteproc/ti_k3_m4_remoteproc.c"));
    assert_eq!(
        line(out, "internal:  iram"),
        [
            "internal:",
            "iram",
            "pa",
            "0x5000000",
            "size",
            "0x30000",
            "at",
            "da",
            "0x0"
        ]
    );
    assert_eq!(line(out, "0 0x0")[2], "0x5000000");
    assert_eq!(line(out, "vring 0")[5], "m4f-dma-memory");
}

/// AM62x SK, wakeup R5F, Zephyr's table in its DDR region: FITS (the K3 R5F rules as
/// on the AM64x; ATCM at 0 is 0x78000000).
#[test]
fn am62x_r5f_zephyr_fits() {
    let run = plan("k3-am625-sk", "wkup_r5fss0_core0", "zephyr-am62x-r5f.elf");
    fits(&run);
    let out = &run.stdout;
    assert!(out.contains("profile:   ti-k3-r5f"));
    assert_eq!(line(out, "0 0x0")[2], "0x78000000");
    assert_eq!(line(out, "vring 0")[5], "r5f-dma-memory");
}

/// ZynqMP RPU0 (split mode), OpenAMP's zynqmp_r5 table: FITS. xlnx_r5_remoteproc
/// registers every memory-region as a carveout named after its node (vdev0vring0,
/// vdev0vring1, vdev0buffer), so the 256-buffer rings (0x3000 each) land in RPU0's
/// 16K ring regions and rpmsg's 512 x 512 B buffers in its 1M vdev0buffer; the vectors
/// go to ATCM at 0 (0xffe00000).
#[test]
fn zynqmp_rpu0_openamp_fits() {
    let run = plan(
        "zynqmp-openamp-split",
        "/remoteproc-split@ffe00000/r5f@0",
        "openamp-zynqmp-r5-rpu0.elf",
    );
    fits(&run);
    let out = &run.stdout;
    assert!(out.contains("profile:   xlnx-zynqmp-r5f"));
    assert_eq!(line(out, "0 0x0")[2], "0xffe00000");
    assert_eq!(
        line(out, "vring 0")[2..6],
        ["0x3ed40000", "0x3ed40000", "0x3000", "vdev0vring0"]
    );
    assert_eq!(line(out, "vring 1")[5], "vdev0vring1");
}

/// ZynqMP RPU1, OpenAMP's table linked for RPU1: FITS. Its regions have the same node
/// names as RPU0's; Linux keeps each processor's carveouts in its own list, so its
/// rings bind to its own vdev0vring0/1 (at 0x3ef40000) and its buffers to its own
/// vdev0buffer, not to plain memory; its ATCM is 0xffe90000.
#[test]
fn zynqmp_rpu1_openamp_fits_with_its_own_ring_regions() {
    let run = plan(
        "zynqmp-openamp-split",
        "/remoteproc-split@ffe00000/r5f@1",
        "openamp-zynqmp-r5-rpu1.elf",
    );
    fits(&run);
    let out = &run.stdout;
    assert_eq!(line(out, "0 0x0")[2], "0xffe90000");
    assert_eq!(
        line(out, "vring 0")[2..6],
        ["0x3ef40000", "0x3ef40000", "0x3000", "vdev0vring0@3ef40000"]
    );
    assert!(line(out, "vdev0vring1@3ef44000").contains(&"r5f@1"));
    assert!(line(out, "0 vdev id 7").ends_with(&["vdev0buffer", "pool"]));
}

/// ZynqMP RPU1 given RPU0's image: DOES NOT FIT, its code is linked into RPU0's
/// firmware region (0x3ed00000), no carveout of RPU1.
#[test]
fn zynqmp_rpu1_with_rpu0_image_does_not_fit() {
    let run = plan(
        "zynqmp-openamp-split",
        "/remoteproc-split@ffe00000/r5f@1",
        "openamp-zynqmp-r5-rpu0.elf",
    );
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(
        "1. firmware segment 1 (da 0x3ed00000, 0x20000 bytes): no memory of the processor \
         holds da 0x3ed00000"
    ));
}

/// i.MX8MP EVK (NXP's rpmsg tree), Cortex-M7, Zephyr's `openamp_rsc_table` sample for
/// `imx8mp_evk_mimx8ml8_m7`: FITS. imx_rproc translates the M7's addresses through the
/// i.MX8MN table it uses for the 8MP: code in ITCM at da 0 is 0x7e0000, the table in
/// DTCM at 0x20000000 is 0x800000. The rings bind by name to vdev0vring0/1; there is no
/// vdev0buffer, so remoteproc_virtio gives the vdev memory-region 0 (vdevbuffer), where
/// rpmsg's 16 buffers go; rsc-table is passed over.
#[test]
fn imx8mp_m7_zephyr_fits_through_the_att_table() {
    let run = plan("imx8mp-evk-rpmsg", "imx8mp-cm7", "zephyr-imx8mp-evk-m7.elf");
    fits(&run);
    let out = &run.stdout;
    assert!(out.contains("profile:   imx (Linux drivers/remoteproc/imx_rproc.c; chosen from compatible \"fsl,imx8mn-cm7\")"));
    assert_eq!(line(out, "0 0x0")[2], "0x7e0000");
    assert_eq!(line(out, "1 0x20000000")[2], "0x800000");
    assert_eq!(line(out, "vring 0")[5], "vdev0vring0");
    let buffers = line(out, "vdevbuffer 0x55400000");
    assert!(buffers.contains(&"buffers") && buffers.contains(&"0x2000"));
    assert!(line(out, "rsc-table 0x550ff000").contains(&"ignored"));
}

/// The committed images are what the generator writes (the CI runs
/// `tests/fixtures/firmware/rebuild.sh --check` too).
#[test]
fn the_committed_upstream_firmware_is_what_the_generator_writes() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("upstream-firmware");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(BIN)
        .arg("--write-upstream-firmware")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 11);
    for name in names {
        let fresh = std::fs::read(dir.join(&name)).unwrap();
        let committed = std::fs::read(format!(
            "{HERE}/tests/fixtures/firmware/{}",
            name.to_string_lossy()
        ))
        .unwrap_or_default();
        assert!(
            fresh == committed,
            "tests/fixtures/firmware/{} is stale: run tests/fixtures/firmware/rebuild.sh",
            name.to_string_lossy()
        );
    }
}
