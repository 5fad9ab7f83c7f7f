#![forbid(unsafe_code)]
//! cordon-pipeline: one run, decided, confined and recorded, for every entry point.
//!
//! TODO: the stages (module doc written with the stages).

pub mod approval;
mod error;
pub mod plan;
pub mod record;

pub use error::{Error, Result};
