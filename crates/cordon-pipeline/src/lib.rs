#![forbid(unsafe_code)]
//! cordon-pipeline: one run, decided, confined and recorded, for every entry point.
//!
//! TODO: the stages (module doc written with the stages).

pub mod approval;
pub mod approve;
pub mod check;
pub mod decide;
mod error;
pub mod launch;
pub mod plan;
pub mod record;
pub mod request;

pub use approve::Approved;
pub use decide::Decided;
pub use error::{Error, Result};
pub use plan::Plan;
pub use request::{Command, Request};
