//! Coherent DMA pools (skeleton: filled in by the dma-pool issue).
//!
//! This crate will own devices, per-device and global default coherent pools and the
//! physical/bus/CPU address model on top of `contig-cma` regions. It must never know
//! about remote processors. Nothing is implemented yet; the crate only re-exports the
//! layer it builds on.
#![no_std]

pub use contig_cma as cma;
