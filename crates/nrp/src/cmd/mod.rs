//! One file per command: its arguments turned into library calls, and its output.

pub mod check;
pub mod explain;
mod metrics;
pub mod query;
pub mod run;

use crate::{Failure, R};
use nrp_data::Database;

pub(crate) fn open_db(spec: &str) -> R<Database> {
    Database::open(spec).map_err(|e| Failure::from(e.message))
}
