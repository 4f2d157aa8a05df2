//! Physical memory regions for DMA (skeleton: filled in by the cma issue).
//!
//! This crate will own physical regions — declaration and early placement, backends
//! chosen by name, the region map from devices to regions, and reusable (CMA) regions
//! with a reclaim hook. It must never know about devices' bus addresses or remote
//! processors. Nothing is implemented yet; the crate only re-exports the allocator
//! layer it builds on.
#![no_std]

pub use contig_allocators as allocators;
