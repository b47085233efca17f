//! The nrp pipeline as a library: what the `nrp` command line and the Python package share.
//!
//! - [`options::Options`]: seed, threads, memory budget, template depth and the engine's
//!   options (rewrites to skip, tracing, profiling). No library crate reads an environment
//!   variable; callers fill this struct.
//! - [`program`]: read and parse a program, check it against a database (all tables, or
//!   only those some relations need), estimate its grounding, find a derived relation.
//! - [`params`]: parameters initialised from the seed or loaded from a checkpoint.
//! - [`report`]: the texts of `nrp check` and of the estimates.
//! - [`session::Session`]: an incremental session, as RelaNN's: texts run one after the
//!   other, definitions accumulate, `?fit` continues from the current weights, a re-issued
//!   `?pred` re-evaluates.
//!
//! Errors are [`Error`]s: a message rendered for a person, located (`file:line:column`)
//! where it concerns the program.

pub mod budget;
pub mod error;
pub mod options;
pub mod params;
pub mod program;
pub mod report;
pub mod session;
pub mod threads;

pub use budget::Budget;
pub use error::{Error, Result};
pub use nrp_engine::train::{Epoch, Flow};
pub use nrp_engine::{EngineOptions, Output};
pub use options::Options;
pub use session::{EpochRecord, RunReport, Session};
