//! Remote processor memory glue (skeleton: filled in by the rproc-glue issue).
//!
//! This crate will own the firmware resource table, firmware ELF parsing, carveouts,
//! vrings and vdev buffer pools on top of `contig-dma-pool`. Nothing is implemented yet;
//! the crate only re-exports the layer it builds on.
#![no_std]

pub use contig_dma_pool as dma_pool;
