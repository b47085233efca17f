//! The memory budget of a command: `--memory-limit SIZE`, or by default
//! [`nrp_data::memory::DEFAULT_FRACTION`] of the memory this process may use (see
//! [`nrp_data::memory::machine_memory`]). Every stage compares its sizes with it before it
//! allocates (LANGUAGE.md, "Extensions": memory budget).

use crate::args::Args;
use crate::{Failure, R};
use nrp_data::memory::{self, format_bytes};
use nrp_syntax::Diagnostic;

pub struct Budget {
    pub bytes: u64,
    /// Where the limit comes from, for the note under a memory error.
    how: String,
}

impl Budget {
    pub fn from_args(args: &Args) -> R<Budget> {
        match args.value("memory-limit") {
            Some(text) => {
                let bytes = memory::parse_size(text)
                    .map_err(|e| Failure::from(format!("`--memory-limit`: {e}")))?;
                Ok(Budget {
                    bytes,
                    how: format!("given by `--memory-limit {text}`"),
                })
            }
            None => {
                let m = memory::machine_memory();
                Ok(Budget {
                    bytes: m.budget(),
                    how: format!(
                        "{:.0}% of {} ({}); `--memory-limit SIZE` sets another",
                        memory::DEFAULT_FRACTION * 100.0,
                        format_bytes(m.bytes),
                        m.source
                    ),
                })
            }
        }
    }

    /// A memory error with a note saying where the limit comes from.
    pub fn annotate(&self, d: Diagnostic) -> Diagnostic {
        if d.message.contains("memory limit") || d.message.contains("out of memory") {
            let note = format!(
                "the memory limit, {}, is {}",
                format_bytes(self.bytes),
                self.how
            );
            d.with_note(note)
        } else {
            d
        }
    }
}

/// A refused allocation (an [`nrp_tensor::OutOfMemory`] unwinding) as a user error.
pub fn out_of_memory(bytes: u64) -> Failure {
    Failure(format!(
        "error: out of memory: cannot allocate {}\n  = note: sizes are compared with the memory limit before memory is allocated, but this allocation was not foreseen, or the machine has less free memory than the limit; a smaller `--memory-limit` may help\n",
        format_bytes(bytes)
    ))
}
