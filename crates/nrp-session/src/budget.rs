//! The memory budget: a given limit, or by default [`nrp_data::memory::DEFAULT_FRACTION`]
//! of the memory this process may use (see [`nrp_data::memory::machine_memory`]). Every
//! stage compares its sizes with it before it allocates (LANGUAGE.md, "Extensions": memory
//! budget).

use nrp_data::memory::{self, format_bytes};
use nrp_syntax::Diagnostic;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    /// Where the limit comes from, for the note under a memory error.
    how: String,
}

impl Budget {
    /// A limit written as `512M`, `8G`, `8GiB` or bytes; `how` says where it was given
    /// (`` `--memory-limit 8G` ``).
    pub fn parse(text: &str, how: &str) -> Result<Budget, String> {
        let bytes = memory::parse_size(text)?;
        Ok(Budget {
            bytes,
            how: format!("given by {how}"),
        })
    }

    /// The default: a fraction of the machine's (or cgroup's, or address space's) memory;
    /// `other` says how to set another (`` `--memory-limit SIZE` sets another ``).
    pub fn machine(other: &str) -> Budget {
        let m = memory::machine_memory();
        Budget {
            bytes: m.budget(),
            how: format!(
                "{:.0}% of {} ({}); {other}",
                memory::DEFAULT_FRACTION * 100.0,
                format_bytes(m.bytes),
                m.source
            ),
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

/// A refused allocation (an [`nrp_tensor::OutOfMemory`] unwinding) as a user error;
/// `option` names the memory limit's option (`` `--memory-limit` ``).
pub fn out_of_memory(bytes: u64, option: &str) -> String {
    format!(
        "error: out of memory: cannot allocate {}\n  = note: sizes are compared with the memory limit before memory is allocated, but this allocation was not foreseen, or the machine has less free memory than the limit; a smaller {option} may help\n",
        format_bytes(bytes)
    )
}
