//! The firmware's memory layout: linked at its own device address (firmware.ld).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/firmware.ld");
    println!("cargo:rerun-if-changed=firmware.ld");
}
