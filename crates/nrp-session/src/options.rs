//! Everything a run takes besides the program and the data. The library reads no
//! environment variable: the command line fills these from its flags and from
//! `NRP_DISABLE_RULES`, `NRP_TRACE`, `NRP_PROFILE`; Python from keyword arguments.

use crate::budget::Budget;
use nrp_engine::EngineOptions;

#[derive(Clone, Debug)]
pub struct Options {
    /// Initialises the parameters not loaded from a checkpoint (as `torch.manual_seed`),
    /// and seeds the dropout of a `?fit` that gives no `seed`.
    pub seed: u64,
    /// Worker threads (`None`: all available cores).
    pub threads: Option<usize>,
    /// The memory budget every stage checks its sizes against.
    pub budget: Budget,
    /// The longest chain of template instances (`None`: nrp-expand's default, 100).
    pub template_depth: Option<usize>,
    /// Plan rewrites to skip, tracing and profiling.
    pub engine: EngineOptions,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 0,
            threads: None,
            budget: Budget::machine("a memory limit option sets another"),
            template_depth: None,
            engine: EngineOptions::default(),
        }
    }
}

impl Options {
    /// SQL grounding needs a SQL source (SQLite, PostgreSQL), whichever evaluator runs.
    /// `flag` is how the caller spells the option (`` `--ground sql` ``, `ground="sql"`).
    pub fn check_ground(&self, db: &nrp_data::Database, flag: &str) -> Result<(), String> {
        if self.engine.ground == nrp_engine::GroundMode::Sql && db.sql_dialect().is_none() {
            return Err(format!(
                "{flag} needs a SQLite or PostgreSQL database; {} is not one",
                db.describe()
            ));
        }
        Ok(())
    }

    /// What sema checks beyond the language: the budget and the template depth.
    pub fn check_options(&self) -> nrp_sema::CheckOptions {
        let mut expand = nrp_expand::Options::default();
        if let Some(n) = self.template_depth {
            expand.max_depth = n;
        }
        nrp_sema::CheckOptions {
            memory_limit: self.budget.bytes,
            expand,
        }
    }
}
