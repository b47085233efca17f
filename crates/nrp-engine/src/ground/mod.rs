//! Grounding: all relational work, once per database. Every relation's content is computed
//! (interned columns, rows sorted by content), and every rule body yields its *match list*:
//! for each match, the row of each body atom, the values of the body variables and the head
//! row it aggregates into, sorted by head row. None of this depends on learnable
//! parameters (the derived content is a union of conjunctive queries), so it is done once.

pub mod join;

use crate::intern::Dict;
use nrp_data::{Database, Value};
use nrp_sema::{CoreRule, HeadTerm, Program, RelId, RelKind, Term};
use nrp_syntax::Diagnostic;
use std::cmp::Ordering;

/// A relation's content: `arity` interned columns; rows sorted by content value order.
#[derive(Clone, Debug, Default)]
pub struct GroundRelation {
    pub arity: usize,
    pub cols: Vec<Vec<u32>>,
    pub len: usize,
}

impl GroundRelation {
    pub fn tuple(&self, row: usize) -> Vec<u32> {
        self.cols.iter().map(|c| c[row]).collect()
    }
}

/// The matches of one body (a conjunction, or one branch of a union), sorted by head row.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// `rows[i][m]`: the row of body atom `i` in match `m`.
    pub rows: Vec<Vec<u32>>,
    /// `vars[v][m]`: the interned value of body variable `v` in match `m`.
    pub vars: Vec<Vec<u32>>,
    /// `head[m]`: the head row match `m` aggregates into (non-decreasing).
    pub head: Vec<u32>,
}

impl Matches {
    pub fn len(&self) -> usize {
        self.head.len()
    }
    pub fn is_empty(&self) -> bool {
        self.head.is_empty()
    }
}

/// How one rule was grounded, for `nrp explain`.
#[derive(Clone, Debug, Default)]
pub struct JoinReport {
    /// Variable order of the generic join, by name.
    pub var_order: Vec<String>,
    /// Facts of each atom after constant and repeated-variable filters.
    pub atom_sizes: Vec<usize>,
    pub matches: usize,
}

#[derive(Clone, Debug, Default)]
pub struct GroundRule {
    /// One per body (branch), in the core rule's order.
    pub bodies: Vec<Matches>,
    pub reports: Vec<JoinReport>,
}

/// The grounded program: content of every needed relation and match lists of every rule.
pub struct Ground {
    pub dict: Dict,
    pub relations: Vec<Option<GroundRelation>>,
    pub rules: Vec<Option<GroundRule>>,
    /// Input relations' embeddings (row-major `len * dim`, f64 as read).
    pub input_embeddings: Vec<Option<Vec<f64>>>,
}

type R<T> = Result<T, Diagnostic>;

impl Ground {
    /// Grounds the relations `needed` (dependencies first, as `Program::closure` gives them).
    pub fn new(program: &Program, db: &Database, needed: &[RelId]) -> R<Ground> {
        let n = program.relations.len();
        let mut g = Ground {
            dict: Dict::default(),
            relations: vec![None; n],
            rules: vec![None; n],
            input_embeddings: vec![None; n],
        };
        for &rel in needed {
            if let RelKind::Derived(rule) = &program.relations[rel].kind {
                for dep in rule.dependencies() {
                    if program.relations[dep].is_input() && g.relations[dep].is_none() {
                        g.load_input(program, db, dep)?;
                    }
                }
            }
        }
        for &rel in needed {
            match &program.relations[rel].kind {
                RelKind::Derived(rule) => {
                    let (relation, ground) = g.ground_rule(rule)?;
                    g.relations[rel] = Some(relation);
                    g.rules[rel] = Some(ground);
                }
                RelKind::Input(_) if g.relations[rel].is_none() => {
                    g.load_input(program, db, rel)?
                }
                RelKind::Input(_) => {}
            }
        }
        Ok(g)
    }

    fn load_input(&mut self, program: &Program, db: &Database, rel: RelId) -> R<()> {
        let r = &program.relations[rel];
        let RelKind::Input(b) = &r.kind else {
            unreachable!("inputs only")
        };
        let table = b.table.as_deref().unwrap_or(&r.name);
        let bound = db
            .bind(table, b.terms, b.embedding)
            .map_err(|e| Diagnostic::error(e.message, r.span))?;
        let len = bound.len();
        let cols: Vec<Vec<u32>> = bound
            .content
            .iter()
            .map(|c| self.dict.intern_column(c))
            .collect();
        // Sort rows by content so that every relation has the same row order convention.
        let mut perm: Vec<u32> = (0..len as u32).collect();
        let dict = &self.dict;
        perm.sort_by(|&a, &b| cmp_rows(dict, &cols, a as usize, b as usize));
        let cols = cols
            .iter()
            .map(|c| perm.iter().map(|&p| c[p as usize]).collect())
            .collect();
        let dim = bound.dim;
        let emb = if dim > 0 {
            let mut e = Vec::with_capacity(len * dim);
            for &p in &perm {
                e.extend_from_slice(bound.emb(p as usize));
            }
            Some(e)
        } else {
            None
        };
        self.relations[rel] = Some(GroundRelation {
            arity: bound.arity,
            cols,
            len,
        });
        self.input_embeddings[rel] = emb;
        Ok(())
    }

    fn ground_rule(&mut self, rule: &CoreRule) -> R<(GroundRelation, GroundRule)> {
        let head = rule.head();
        let arity = head.len();
        let const_ids: Vec<Option<u32>> = head
            .iter()
            .map(|t| {
                if let HeadTerm::Const(c) = t {
                    Some(self.dict.intern(c))
                } else {
                    None
                }
            })
            .collect();
        let mut bodies = vec![];
        let mut reports = vec![];
        for (body, _) in rule.bodies() {
            let atoms: Vec<&GroundRelation> = body
                .atoms
                .iter()
                .map(|a| {
                    self.relations[a.rel]
                        .as_ref()
                        .expect("dependencies are grounded first")
                })
                .collect();
            let consts: Vec<Vec<Option<u32>>> = body
                .atoms
                .iter()
                .map(|a| {
                    a.terms
                        .iter()
                        .map(|t| {
                            if let Term::Const(c) = t {
                                Some(self.dict.intern(c))
                            } else {
                                None
                            }
                        })
                        .collect()
                })
                .collect();
            for f in &body.filters {
                for t in [&f.lhs, &f.rhs] {
                    if let Term::Const(c) = t {
                        self.dict.intern(c);
                    }
                }
            }
            let (m, report) = join::join(body, &atoms, &consts, &self.dict);
            bodies.push(m);
            reports.push(report);
        }
        // Head tuples of every match, then the distinct tuples sorted by content.
        let head_tuple = |m: &Matches, i: usize| -> Vec<u32> {
            head.iter()
                .zip(&const_ids)
                .map(|(t, c)| match t {
                    HeadTerm::Var(v) => m.vars[*v][i],
                    HeadTerm::Const(_) => c.expect("interned above"),
                })
                .collect()
        };
        let mut tuples: Vec<Vec<u32>> = bodies
            .iter()
            .flat_map(|m| (0..m.len()).map(move |i| head_tuple(m, i)))
            .collect();
        let dict = &self.dict;
        tuples.sort_by(|a, b| cmp_tuples(dict, a, b));
        tuples.dedup();
        let index: std::collections::HashMap<&[u32], u32> = tuples
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_slice(), i as u32))
            .collect();
        for m in &mut bodies {
            let rows: Vec<u32> = (0..m.len())
                .map(|i| index[head_tuple(m, i).as_slice()])
                .collect();
            sort_by_head(m, rows);
        }
        let len = tuples.len();
        let cols = (0..arity)
            .map(|j| tuples.iter().map(|t| t[j]).collect())
            .collect();
        Ok((
            GroundRelation { arity, cols, len },
            GroundRule { bodies, reports },
        ))
    }
}

/// Orders a match list by head row, keeping the join's order within one head (stable).
fn sort_by_head(m: &mut Matches, head: Vec<u32>) {
    let mut perm: Vec<u32> = (0..head.len() as u32).collect();
    perm.sort_by_key(|&i| head[i as usize]);
    let apply = |v: &Vec<u32>| perm.iter().map(|&p| v[p as usize]).collect::<Vec<u32>>();
    m.rows = m.rows.iter().map(apply).collect();
    m.vars = m.vars.iter().map(apply).collect();
    m.head = apply(&head);
}

fn cmp_tuples(dict: &Dict, a: &[u32], b: &[u32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            let o = dict.value(*x).cmp(dict.value(*y));
            if o != Ordering::Equal {
                return o;
            }
        }
    }
    Ordering::Equal
}

fn cmp_rows(dict: &Dict, cols: &[Vec<u32>], a: usize, b: usize) -> Ordering {
    for c in cols {
        if c[a] != c[b] {
            return dict.value(c[a]).cmp(dict.value(c[b]));
        }
    }
    Ordering::Equal
}

/// The content values of a row, for output.
pub fn row_values(dict: &Dict, rel: &GroundRelation, row: usize) -> Vec<Value> {
    rel.cols
        .iter()
        .map(|c| dict.value(c[row]).clone())
        .collect()
}
