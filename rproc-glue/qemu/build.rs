//! The kernel's memory layout: OpenSBI (`-bios default`) jumps to 0x8020_0000
//! (kernel.ld). The firmware image it embeds is built first (run.sh, CI).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/kernel.ld");
    println!("cargo:rerun-if-changed=kernel.ld");
}
