//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod board;
pub mod elf;
pub mod recording;

pub use elf::{Seg, image};
