//! Minimal cases of disagreements between the engine and the reference evaluator found by
//! the random differential test (`random_programs.rs`), each kept as a regression test.

mod common;

use common::*;
use nrp_data::Table;

/// Every user-visible derived relation of `text` agrees (all at once and one by one).
fn agree(tables: Vec<Table>, text: &str) {
    let db = database(tables);
    let program = program(text, &db);
    let params = nrp_sema::params::init_parameters(&program, 0);
    let cpu = nrp_tensor::Cpu::new(1).unwrap();
    let rels: Vec<usize> = (0..program.relations.len()).filter(|&r| !program.relations[r].is_input() && !program.relations[r].is_auxiliary()).collect();
    differential(&program, &db, &params, &rels, &cpu, 1e-5).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for r in rels {
        differential(&program, &db, &params, &[r], &cpu, 1e-5).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

/// A scalar constant (one row) combined with an empty match list had one row, not zero: the
/// broadcast to the matches then read a row that does not exist.
#[test]
fn scalar_broadcast_over_no_matches() {
    agree(
        vec![table("T", &["c0", "x0"], &[&["1", "0.5"]]), table("S", &["c0", "c1"], &[&["0", "0"]])],
        "R(v; sum(1 + Linear(1, 1)([v]))) :- T(v; z), S(v, _) .\n\
         H(v; 2 * z) :- T(v; z), S(v, _) .",
    );
}
