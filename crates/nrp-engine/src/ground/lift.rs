//! Relations the database computes (`--ground sql`): before grounding, every needed
//! derived relation whose rule is relational — one body over tables or relations computed
//! so, a head of body variables, and no embedding or `count()` (a degree) — is sent to the
//! database as one query (`nrp_data::sql::Relational`), which groups the matches into head
//! rows and counts them; the result is read like a table and the relation becomes an input
//! of the program. Bodies that read it are then joined in SQL too (a GCN's `Norm` over its
//! `Deg`). Query targets stay derived (their output keeps nrp's exact counts).
//!
//! Results are those of in-engine grounding: the relation's content and counts are the
//! same; the tables it was computed from are still read and interned first, so every
//! value keeps its id and later joins enumerate in the same order.

use super::sql::conjunction;
use nrp_data::sql::{Branch, Operand, Relational};
use nrp_data::{BoundRelation, Database};
use nrp_sema::{Agg, CoreRule, HeadTerm, InputBinding, Program, RelId, RelKind};
use nrp_syntax::Diagnostic;
use std::borrow::Cow;
use std::sync::Arc;

/// What [`lift`] decided, per relation (indexed by `RelId`).
#[derive(Clone, Debug, Default)]
pub struct Lifted {
    /// The relations the database computed and nrp read (those only other computed
    /// relations read are computed inside their queries).
    pub relations: Vec<Option<Arc<BoundRelation>>>,
    /// Whether the database computed the relation.
    pub computed: Vec<bool>,
    /// Each needed derived relation's query, or why nrp computes it.
    pub statements: Vec<Option<Result<String, String>>>,
    /// The input relations before lifting: still read and interned first.
    pub tables: Vec<RelId>,
    /// The relations needed before lifting, and the rules of those the database computed:
    /// their constants are interned as without lifting.
    pub order: Vec<RelId>,
    pub rules: Vec<Option<CoreRule>>,
}

impl Lifted {
    pub fn is_lifted(&self, rel: RelId) -> bool {
        self.relations.get(rel).is_some_and(Option::is_some)
    }
}

/// Has the database compute every relational rule needed for `rels` (when `run`; else
/// only writes the queries, for `explain --sql`), and makes those relations inputs of
/// `program`.
pub fn lift(
    program: &mut Cow<'_, Program>,
    db: &Database,
    rels: &[RelId],
    run: bool,
) -> Result<Lifted, Diagnostic> {
    let n = program.relations.len();
    let needed = program.closure(rels);
    // `closure` lists derived relations; the inputs are what they read.
    let mut tables: Vec<RelId> = needed.clone();
    for &rel in &needed {
        if let RelKind::Derived(rule) = &program.relations[rel].kind {
            tables.extend(rule.dependencies());
        }
    }
    tables.retain(|&r| program.relations[r].is_input());
    tables.sort_unstable();
    tables.dedup();
    let mut lifted = Lifted {
        relations: vec![None; n],
        computed: vec![false; n],
        statements: vec![None; n],
        tables,
        order: needed.clone(),
        rules: vec![None; n],
    };
    if db.sql_dialect().is_none() {
        return Ok(lifted);
    }
    let mut bound: Vec<Option<Arc<BoundRelation>>> = vec![None; n];
    for &rel in &lifted.tables {
        let r = &program.relations[rel];
        if let RelKind::Input(b) = &r.kind {
            // A table that cannot be bound is reported where nrp reads it.
            let table = b.table.as_deref().unwrap_or(&r.name);
            bound[rel] = db.bind(table, b.terms, b.embedding).ok();
        }
    }
    let mut readers: Vec<Vec<RelId>> = vec![vec![]; n];
    for &rel in &needed {
        if let RelKind::Derived(rule) = &program.relations[rel].kind {
            rule.dependencies()
                .into_iter()
                .for_each(|d| readers[d].push(rel));
        }
    }
    // What to compute: a count always (one row per head instead of a match list); a
    // relation without embedding only when every relation reading it is computed too —
    // one that nrp joins needs it transferred, and nrp's own join and numbering are
    // cheaper than the database's DISTINCT and ROW_NUMBER (bench/README.md).
    let mut wanted = vec![false; n];
    for &rel in needed.iter().rev() {
        if let RelKind::Derived(rule) = &program.relations[rel].kind
            && let Some(count) = shape(program, rel, rule, rels)
        {
            wanted[rel] = count || readers[rel].iter().all(|&r| wanted[r]);
            if !wanted[rel] {
                lifted.statements[rel] = Some(Err(
                    "a rule nrp joins reads it (nrp computes it with that rule's inputs)".into(),
                ));
            }
        }
    }
    let mut queries = vec![None; n];
    for &rel in &needed {
        let r = &program.relations[rel];
        let RelKind::Derived(rule) = &r.kind else {
            continue;
        };
        if !wanted[rel] {
            continue;
        }
        let query = relational(program, rule, &bound).and_then(|q| db.sql_relation(&r.name, &q));
        if let Ok(q) = &query {
            // What later rules' SQL needs of it; read below if nrp reads it.
            bound[rel] = Some(db.sql_relation_placeholder(&r.name, q));
            lifted.computed[rel] = run;
            lifted.rules[rel] = Some(rule.clone());
        }
        lifted.statements[rel] = Some(query.as_ref().map(|q| q.text()).map_err(Clone::clone));
        queries[rel] = query.ok();
    }
    if run {
        for &rel in &needed {
            let Some(q) = &queries[rel] else { continue };
            if readers[rel].iter().all(|&x| queries[x].is_some()) {
                continue;
            }
            let r = &program.relations[rel];
            let b = db
                .bind_sql_relation(&r.name, q)
                .map_err(|e| Diagnostic::error(e.message, r.span))?;
            lifted.relations[rel] = Some(b);
        }
    } else {
        lifted.rules = vec![None; n];
    }
    if lifted.relations.iter().any(Option::is_some) {
        let p = program.to_mut();
        for (rel, b) in lifted.relations.iter().enumerate() {
            if let Some(b) = b {
                p.relations[rel].kind = RelKind::Input(InputBinding {
                    table: None,
                    terms: b.arity,
                    embedding: b.dim > 0,
                });
            }
        }
    }
    Ok(lifted)
}

/// Whether `rule` has a relational shape: `Some(true)` for a count, `Some(false)` for a
/// relation without embedding, `None` otherwise (an expression computes its embedding, or
/// it is a query's target).
fn shape(program: &Program, rel: RelId, rule: &CoreRule, targets: &[RelId]) -> Option<bool> {
    let count = rule.agg() == Agg::Count;
    // No embedding (a union's pass-through expressions then carry nothing), or a count.
    let pure = program.relations[rel].dim == Some(0);
    let plain = rule.bodies().iter().all(|(_, e)| e.is_none());
    (!targets.contains(&rel) && (pure || count && plain)).then_some(count && !pure)
}

/// `rule` as a relational query, or why it cannot be one.
fn relational(
    program: &Program,
    rule: &CoreRule,
    bound: &[Option<Arc<BoundRelation>>],
) -> Result<Relational, String> {
    let count = rule.agg() == Agg::Count;
    let branches = rule
        .bodies()
        .iter()
        .map(|&(body, _)| branch(rule, body, program, bound))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Relational { branches, count })
}

fn branch(
    rule: &CoreRule,
    body: &nrp_sema::Body,
    program: &Program,
    bound: &[Option<Arc<BoundRelation>>],
) -> Result<Branch, String> {
    let head = rule
        .head()
        .iter()
        .map(|t| match t {
            HeadTerm::Var(v) => Ok(*v),
            HeadTerm::Const(_) => Err("its head has a constant".to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = conjunction(program, body, bound)?;
    if !p.all_plain {
        return Err("a filter computes arithmetic".into());
    }
    let vars: Vec<Operand> = p
        .vars
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("a variable is not in an atom")?;
    Ok(Branch {
        body: p.conjunction,
        vars,
        head,
    })
}
