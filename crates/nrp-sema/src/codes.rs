//! Categorical columns in encoders (`[Embedding(3, 8)(dept)]`, LANGUAGE.md "Encoders and
//! decoders"). An encode that is the direct input of a module carries that module's name
//! as the key of a *code table*: when the values it sees include a string, every value is
//! replaced by its code, the position of its text in the table. The table is the sorted
//! distinct values (content order: numbers, then strings) over the matches of every rule
//! that encodes with that module, so a named module shared by several rules has one table;
//! a checkpoint stores it (`nrp.codes/<key>`), and a value not in a stored table gets the
//! code just past it (`len`), the unseen bucket: `Embedding(k + 1, d)` reserves its row.

use crate::ir::{Expr, ExprKind, Module, RelKind, Relation, Term};
use nrp_data::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Code tables by key (a module's name): the category texts in code order.
pub type Codes = BTreeMap<String, Vec<String>>;

/// The note of the error for a string in an encode that no encoder codes.
pub const ENCODE_HINT: &str = "a column of strings needs an encoder that codes it, as `[Embedding(n, dim)(col)]`; an ISO date or timestamp encodes as its seconds since the epoch";

/// Marks every encode of a single variable that a module reads directly with the module's
/// name (`Apply(m, [Encode([x])])`).
pub fn mark(relations: &mut [Relation], modules: &[Module]) {
    for r in relations.iter_mut() {
        let RelKind::Derived(rule) = &mut r.kind else {
            continue;
        };
        for e in rule.exprs_mut() {
            mark_expr(e, modules);
        }
    }
}

fn mark_expr(e: &mut Expr, modules: &[Module]) {
    // The text encoder reads the text itself (`crate::text`), not codes.
    if let ExprKind::Apply(m, args) = &mut e.kind
        && !matches!(modules[*m].kind, crate::ir::ModuleKind::HashText { .. })
        && let [arg] = args.as_mut_slice()
        && let ExprKind::Encode(items, key @ None) = &mut arg.kind
        && let [Term::Var(_)] = items.as_slice()
    {
        *key = Some(modules[*m].name.clone());
    }
    for c in e.children_mut() {
        mark_expr(c, modules);
    }
}

/// The table for the values an encoder saw: `None` when all are numbers or dates (they
/// stay numbers, a date its seconds since the epoch).
pub fn build<'v>(values: impl IntoIterator<Item = &'v Value>) -> Option<Vec<String>> {
    let set: BTreeSet<&Value> = values.into_iter().collect();
    if set.iter().all(|v| v.encoded().is_some()) {
        return None;
    }
    Some(set.into_iter().map(|v| v.to_string()).collect())
}

/// A table's lookup: text → code; a text not in it has code `len` (the unseen bucket).
pub struct Lookup {
    codes: HashMap<String, usize>,
    unseen: usize,
}

impl Lookup {
    pub fn new(table: &[String]) -> Lookup {
        Lookup {
            codes: table
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i))
                .collect(),
            unseen: table.len(),
        }
    }

    pub fn code(&self, v: &Value) -> usize {
        self.codes
            .get(&v.to_string())
            .copied()
            .unwrap_or(self.unseen)
    }
}

/// The tables a program's evaluation needs that `known` lacks, from the values each key's
/// variable takes: `values(key)` lists them (over every rule that encodes with it).
pub fn complete(known: &Codes, seen: BTreeMap<String, Vec<Value>>) -> Codes {
    let mut out = known.clone();
    for (key, values) in seen {
        if out.contains_key(&key) {
            continue;
        }
        if let Some(t) = build(&values) {
            out.insert(key, t);
        }
    }
    out
}

/// Every encode key an expression uses, with its variable.
pub fn keys(e: &Expr, f: &mut dyn FnMut(&str, usize)) {
    e.walk(&mut |n| {
        if let ExprKind::Encode(items, Some(key)) = &n.kind
            && let [Term::Var(v)] = items.as_slice()
        {
            f(key, *v);
        }
    });
}
