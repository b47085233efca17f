//! Which relation names a set of target relations can reach through rule bodies, read from
//! the program text before any table is bound: `nrp query` and `nrp run --no-fit` then
//! need only the tables those targets depend on (predicting on new data needs no label
//! table).

use nrp_syntax::ast;
use std::collections::{BTreeMap, BTreeSet};

/// Names (heads and tables) reachable from `targets` through the program's rules,
/// `targets` included.
pub fn reachable(program: &ast::Program, targets: &[&str]) -> BTreeSet<String> {
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &program.statements {
        let rule = match s {
            ast::Statement::Rule(r) | ast::Statement::Pred(r) => r,
            ast::Statement::Fit(f) => &f.rule,
            // Expanded away before this runs (`nrp_expand`).
            ast::Statement::Def(_) | ast::Statement::Function(_) => continue,
        };
        let atoms = match &rule.body {
            ast::Body::Conj { atoms, .. } => atoms,
            ast::Body::Union(atoms) => atoms,
            ast::Body::Set(set) => std::slice::from_ref(&set.atom),
        };
        deps.entry(rule.head.name.name.as_str())
            .or_default()
            .extend(atoms.iter().map(|a| a.name.name.as_str()));
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<&str> = targets.to_vec();
    while let Some(name) = stack.pop() {
        if seen.insert(name.to_string()) {
            stack.extend(deps.get(name).into_iter().flatten());
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rules_not_unrelated_tables() {
        let p = nrp_syntax::parse(
            "H(v; z) :- X(v; z) .\nOut(v; z) :- H(v; z) | G(v; z) .\n\
             ?fit <epochs=1>\nLoss(; MSELoss()(p, y)) :- Out(v; p), Label(v; y) .\n\
             ?pred P(v; z) :- Out(v; z), Keep(v) .\n",
        )
        .unwrap();
        let r: Vec<String> = reachable(&p, &["P"]).into_iter().collect();
        assert_eq!(r, ["G", "H", "Keep", "Out", "P", "X"]);
        assert!(!reachable(&p, &["Loss"]).contains("Keep"));
    }
}
