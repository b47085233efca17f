//! Generic join (worst-case optimal, variable at a time): every body is evaluated by
//! binding one variable after another, intersecting the candidate values of all atoms that
//! contain it. Each atom is a sorted trie (its rows sorted by its variables in the global
//! order); intersection is a leapfrog over sorted ranges with galloping search. On cyclic
//! bodies (triangles, 4-cycles) this never materialises the larger pairwise joins; on
//! acyclic ones it performs like a hash join.
//!
//! Variable order: greedily the variable shared by the most atoms, preferring variables
//! connected to those already bound, then smaller candidate sets (real cardinalities: all
//! dependencies are grounded before a rule is). Which atoms take part at each level, and how
//! deep each atom's trie is there, is fixed by that order; the search itself allocates
//! nothing.

use super::{GroundRelation, JoinReport, Matches};
use crate::estimate::{self, AtomStats, Estimate};
use crate::intern::Dict;
use nrp_sema::{Body, CmpOp, Filter, Term, VarId};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The memory budget of a join: matches may take `budget` bytes less what is `held`
/// already (input relations, earlier match lists), at `bytes_per_match` each, and never
/// more than `u32::MAX` (match lists index with `u32`).
pub struct Guard<'g> {
    pub budget: u64,
    pub held: &'g AtomicU64,
    pub bytes_per_match: u64,
}

impl Guard<'_> {
    /// A guard that admits everything (re-grounding for messages; tests).
    pub fn unlimited(held: &AtomicU64) -> Guard<'_> {
        Guard {
            budget: u64::MAX,
            held,
            bytes_per_match: 1,
        }
    }

    /// The most matches the budget leaves room for.
    pub fn max_matches(&self) -> usize {
        estimate::Room::new(self.budget, self.held.load(Relaxed), self.bytes_per_match).max
    }
}

/// Why a join stopped: the budget would be passed, or the allocator refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Overrun {
    /// The estimate alone passes the budget: nothing was searched.
    Estimate { estimate: Estimate, max: usize },
    /// The search found more matches than the budget has room for (the estimate was low).
    Grounded {
        matches: usize,
        estimate: f64,
        max: usize,
    },
    /// The allocator refused to grow the match list.
    Alloc { matches: usize, bytes: u64 },
    /// Filter arithmetic reads variable `var`, which holds a string in row `row` of atom
    /// `atom`'s relation (a value it can take in every atom that binds it).
    NotNumeric { var: VarId, atom: usize, row: u32 },
    /// Matches given by SQL grounding that nrp's equality rejects.
    Given(String),
}

/// Matches found between two budget checks of a search (and room reserved for as many).
const CHECK_EVERY: usize = 1 << 14;

/// One atom as a trie: candidate rows sorted by its variables' values in global order.
struct Trie {
    /// `levels[j][k]`: the value of the atom's j-th variable (global order) in sorted row k.
    levels: Vec<Vec<u32>>,
    /// `rows[k]`: the relation row of sorted row k.
    rows: Vec<u32>,
    /// `first[v]..first[v + 1]`: the sorted rows whose first variable has id `v`, when ids
    /// are few enough to index: probing a value is then one lookup, not a search.
    first: Option<Vec<u32>>,
}

impl Trie {
    fn new(levels: Vec<Vec<u32>>, rows: Vec<u32>, nids: usize) -> Trie {
        let first = (rows.len() >= 1024 && nids <= 4 * rows.len() + (1 << 16))
            .then(|| super::bucket_starts(levels[0].iter().copied(), nids));
        Trie {
            levels,
            rows,
            first,
        }
    }
}

/// A filter of two plain terms with its constants interned (they were interned before
/// ranks were frozen): comparing is comparing ranks. Arithmetic reads the values.
pub(super) enum IdFilter<'b> {
    Ids {
        lhs: Result<usize, u32>,
        op: CmpOp,
        rhs: Result<usize, u32>,
    },
    Arith(&'b Filter),
}

impl IdFilter<'_> {
    fn vars(&self) -> Vec<usize> {
        match self {
            IdFilter::Ids { lhs, rhs, .. } => [lhs, rhs].iter().filter_map(|s| s.ok()).collect(),
            IdFilter::Arith(f) => f.vars(),
        }
    }
}

/// `record[v]`: whether the match list keeps variable `v`'s values (a wildcard that
/// nothing reads costs a column of millions of ids otherwise).
///
/// Before searching, the matches are estimated from the candidate facts (`estimate::body`)
/// and refused when the estimate passes the `guard`'s budget; while searching, the matches
/// found are counted, and the search stops when they pass it.
///
/// `given`: the matches computed by the database (SQL grounding), checked and put in this
/// join's order instead of searching (`given.rs`).
#[allow(clippy::too_many_arguments)]
pub fn join(
    body: &Body,
    atoms: &[&GroundRelation],
    consts: &[Vec<Option<u32>>],
    record: &[bool],
    dict: &Dict,
    guard: &Guard,
    given: Option<&[Vec<u32>]>,
) -> Result<(Matches, JoinReport), Overrun> {
    let nvars = body.vars.len();
    let recorded: Vec<usize> = (0..nvars).filter(|&v| record[v]).collect();
    // Candidate rows: constants match, repeated variables agree.
    let mut candidates: Vec<Vec<u32>> = vec![];
    let mut atom_vars: Vec<Vec<(usize, usize)>> = vec![]; // (var, first position)
    for (i, atom) in body.atoms.iter().enumerate() {
        let rel = atoms[i];
        let mut first: Vec<(usize, usize)> = vec![];
        let mut repeats: Vec<(usize, usize)> = vec![];
        for (pos, t) in atom.terms.iter().enumerate() {
            if let Term::Var(v) = t {
                match first.iter().find(|(x, _)| x == v) {
                    Some(&(_, p)) => repeats.push((p, pos)),
                    None => first.push((*v, pos)),
                }
            }
        }
        let fixed: Vec<(usize, u32)> = consts[i]
            .iter()
            .enumerate()
            .filter_map(|(p, c)| c.map(|c| (p, c)))
            .collect();
        let rows = (0..rel.len as u32)
            .filter(|&r| {
                let r = r as usize;
                fixed.iter().all(|&(p, c)| rel.cols[p][r] == c)
                    && repeats
                        .iter()
                        .all(|&(p, q)| rel.cols[p][r] == rel.cols[q][r])
            })
            .collect();
        candidates.push(rows);
        atom_vars.push(first);
    }
    let stats: Vec<AtomStats> = candidates
        .iter()
        .zip(&atom_vars)
        .zip(atoms)
        .map(|((rows, vars), rel)| AtomStats {
            rows: rows.len() as f64,
            vars: vars
                .iter()
                .map(|&(v, p)| (v, distinct(&rel.cols[p], rows, dict.len()) as f64))
                .collect(),
        })
        .collect();
    let estimate = estimate::body(body, &stats);
    let max = guard.max_matches();
    if estimate.matches > max as f64 {
        return Err(Overrun::Estimate { estimate, max });
    }
    if let Some(stop) = not_numeric(body, atoms, &candidates, &atom_vars, dict) {
        return Err(stop);
    }
    let filters: Vec<IdFilter> = body
        .filters
        .iter()
        .map(|f: &Filter| {
            let side = |t: &Term| match t {
                Term::Var(v) => Ok(*v),
                Term::Const(c) => Err(dict
                    .id(c)
                    .expect("filter constants are interned before grounding")),
            };
            match (f.lhs.term(), f.rhs.term()) {
                (Some(l), Some(r)) => IdFilter::Ids {
                    lhs: side(l),
                    op: f.op,
                    rhs: side(r),
                },
                _ => IdFilter::Arith(f),
            }
        })
        .collect();
    let mut m = Matches {
        rows: vec![vec![]; atoms.len()],
        vars: vec![vec![]; nvars],
        head: vec![],
    };
    // One atom, or one atom with variables beside atoms without (`Min(; m)`, a constant
    // tuple) that match at most once: every candidate row of that atom is a match.
    let with_vars: Vec<usize> = (0..atoms.len())
        .filter(|&i| !atom_vars[i].is_empty())
        .collect();
    let lone = match with_vars[..] {
        [i] if (0..atoms.len()).all(|j| j == i || candidates[j].len() <= 1) => Some(i),
        [] if atoms.len() == 1 => Some(0),
        _ => None,
    };
    if let Some(given) = given {
        use super::given::{Enumeration, Prepared, arrange};
        let how = match lone {
            Some(i) => Enumeration::Lone(i),
            None => Enumeration::Order(variable_order(nvars, &atom_vars, &candidates)),
        };
        let prepared = Prepared {
            body,
            atoms,
            consts,
            atom_vars: &atom_vars,
            filters: &filters,
            record,
            dict,
            report: JoinReport {
                var_order: vec![],
                atom_sizes: candidates.iter().map(Vec::len).collect(),
                matches: 0,
                estimate: estimate.matches,
            },
            max,
        };
        return arrange(prepared, how, given);
    }
    if let Some(i) = lone {
        let var_order: Vec<String> = atom_vars[i]
            .iter()
            .map(|&(v, _)| body.vars[v].clone())
            .collect();
        let mut one = Matches {
            rows: vec![vec![]],
            vars: vec![vec![]; nvars],
            head: vec![],
        };
        if candidates.iter().all(|c| !c.is_empty()) {
            single_atom(
                atoms[i],
                &candidates[i],
                &atom_vars[i],
                &filters,
                record,
                dict,
                &mut one,
            );
        }
        let matches = one.rows[0].len();
        for (j, rows) in m.rows.iter_mut().enumerate() {
            *rows = if j == i {
                std::mem::take(&mut one.rows[0])
            } else {
                vec![candidates[j].first().copied().unwrap_or(0); matches]
            };
        }
        m.vars = one.vars;
        m.head = vec![0; matches];
        if matches > max {
            return Err(Overrun::Grounded {
                matches,
                estimate: estimate.matches,
                max,
            });
        }
        return Ok((
            m,
            JoinReport {
                var_order,
                atom_sizes: candidates.iter().map(Vec::len).collect(),
                matches,
                estimate: estimate.matches,
            },
        ));
    }
    let order = variable_order(nvars, &atom_vars, &candidates);
    let mut rank = vec![usize::MAX; nvars];
    for (k, &v) in order.iter().enumerate() {
        rank[v] = k;
    }
    let mut tries = vec![];
    let mut trie_vars = vec![];
    for i in 0..atoms.len() {
        let mut vars = atom_vars[i].clone();
        vars.sort_by_key(|(v, _)| rank[*v]);
        let rel = atoms[i];
        let mut rows = candidates[i].clone();
        rows.sort_unstable_by(|&a, &b| {
            vars.iter()
                .map(|&(_, p)| rel.cols[p][a as usize].cmp(&rel.cols[p][b as usize]))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        let levels = vars
            .iter()
            .map(|&(_, p)| rows.iter().map(|&r| rel.cols[p][r as usize]).collect())
            .collect();
        tries.push(Trie::new(levels, rows, dict.len()));
        trie_vars.push(vars.into_iter().map(|(v, _)| v).collect::<Vec<_>>());
    }
    // Static plan of the search: participants and their trie depth at each level.
    let levels = order.len();
    let part: Vec<Vec<(usize, usize)>> = order
        .iter()
        .map(|&var| {
            (0..tries.len())
                .filter_map(|i| trie_vars[i].iter().position(|&v| v == var).map(|d| (i, d)))
                .collect()
        })
        .collect();
    // Each filter is checked as soon as its last variable is bound.
    let mut filters_at: Vec<Vec<usize>> = vec![vec![]; levels + 1];
    for (fi, f) in filters.iter().enumerate() {
        let level = f.vars().iter().map(|&v| rank[v] + 1).max().unwrap_or(0);
        filters_at[level].push(fi);
    }
    let report = JoinReport {
        var_order: order.iter().map(|&v| body.vars[v].clone()).collect(),
        atom_sizes: candidates.iter().map(Vec::len).collect(),
        matches: 0,
        estimate: estimate.matches,
    };
    let n = tries.len();
    // Matches found by all pieces, as of their latest budget checks.
    let found = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    // The matches whose first variable's value lies in `driver`'s sorted rows `lo..hi`.
    let search = |(driver, lo, hi): (usize, usize, usize)| {
        let mut ranges = vec![(0usize, 0usize); (levels + 1) * n];
        for (i, t) in tries.iter().enumerate() {
            ranges[i] = (0, t.rows.len());
        }
        ranges[driver] = (lo, hi);
        let mut search = Search {
            tries: &tries,
            order: &order,
            part: &part,
            filters_at: &filters_at,
            filters: &filters,
            dict,
            binding: vec![u32::MAX; nvars],
            recorded: &recorded,
            ranges,
            out: Matches {
                rows: vec![vec![]; n],
                vars: vec![vec![]; nvars],
                head: vec![],
            },
            emitted: 0,
            checked: 0,
            max,
            found: &found,
            stopped: &stopped,
            stop: None,
        };
        search.reserve();
        search.level(0);
        match search.stop {
            None => Ok(search.out),
            Some(stop) => Err(stop),
        }
    };
    let overrun = |stop: Stop| match stop {
        Stop::Budget => Overrun::Grounded {
            matches: found.load(Relaxed),
            estimate: estimate.matches,
            max,
        },
        Stop::Alloc(bytes) => Overrun::Alloc {
            matches: found.load(Relaxed),
            bytes,
        },
    };
    let consts_ok = filters_at[0].iter().all(|&f| holds(&filters[f], &[], dict));
    if consts_ok && candidates.iter().all(|c| !c.is_empty()) {
        // Split the first variable's values among the pool's threads; pieces enumerate in
        // value order, so their concatenation is the sequential match list.
        // (No variables: one piece, every trie whole.)
        let driver = part.first().map_or(0, |p| {
            p.iter()
                .map(|&(i, _)| i)
                .min_by_key(|&i| tries[i].rows.len())
                .expect("every variable occurs in an atom")
        });
        let values = tries[driver].levels.first().map_or(&[][..], Vec::as_slice);
        let threads = super::pool_threads();
        let work: usize = candidates.iter().map(Vec::len).sum();
        // Pieces of a few rows would cost more to schedule than to join.
        let pieces = if threads > 1 && work >= 1 << 12 && values.len() >= 64 * threads {
            4 * threads
        } else {
            1
        };
        let mut bounds = vec![0];
        for p in 1..pieces {
            let at = (values.len() * p / pieces).max(*bounds.last().unwrap());
            // Forward to where the value changes: one value's rows stay in one piece.
            let at = upper_bound(values, at - 1, values.len(), values[at - 1]);
            if at > *bounds.last().unwrap() && at < values.len() {
                bounds.push(at);
            }
        }
        bounds.push(tries[driver].rows.len());
        let pieces: Vec<(usize, usize, usize)> =
            bounds.windows(2).map(|w| (driver, w[0], w[1])).collect();
        if pieces.len() == 1 {
            m = search(pieces[0]).map_err(overrun)?;
        } else {
            use rayon::prelude::*;
            let found: Vec<Matches> = pieces
                .into_par_iter()
                .map(search)
                .collect::<Result<_, Stop>>()
                .map_err(overrun)?;
            let concat = |col: &dyn Fn(&Matches) -> &Vec<u32>| -> Vec<u32> {
                let mut all = Vec::with_capacity(found.iter().map(|f| col(f).len()).sum());
                for f in &found {
                    all.extend_from_slice(col(f));
                }
                all
            };
            m.rows = (0..n)
                .into_par_iter()
                .map(|i| concat(&|f| &f.rows[i]))
                .collect();
            m.vars = (0..nvars)
                .into_par_iter()
                .map(|v| concat(&|f| &f.vars[v]))
                .collect();
        }
    }
    let matches = m.rows.first().map(Vec::len).unwrap_or(0);
    if matches > max {
        // The last piece's matches since its latest check.
        return Err(Overrun::Grounded {
            matches,
            estimate: estimate.matches,
            max,
        });
    }
    m.head = vec![0; matches];
    Ok((m, JoinReport { matches, ..report }))
}

/// The distinct values of `col` over `rows` (ids below `nids`).
fn distinct(col: &[u32], rows: &[u32], nids: usize) -> usize {
    let mut seen = vec![0u64; nids.div_ceil(64)];
    let mut n = 0;
    for &r in rows {
        let id = col[r as usize] as usize;
        let (word, bit) = (id / 64, 1u64 << (id % 64));
        if seen[word] & bit == 0 {
            seen[word] |= bit;
            n += 1;
        }
    }
    n
}

/// One atom: every candidate row is a match, in row order.
fn single_atom(
    rel: &GroundRelation,
    rows: &[u32],
    vars: &[(usize, usize)],
    filters: &[IdFilter],
    record: &[bool],
    dict: &Dict,
    m: &mut Matches,
) {
    let kept: Vec<(usize, usize)> = vars.iter().copied().filter(|&(v, _)| record[v]).collect();
    if filters.is_empty() {
        // Every candidate matches: the match list is columns gathered by row.
        m.rows[0] = rows.to_vec();
        for &(v, p) in &kept {
            m.vars[v] = rows.iter().map(|&r| rel.cols[p][r as usize]).collect();
        }
        return;
    }
    let mut binding = vec![u32::MAX; m.vars.len()];
    for &r in rows {
        for &(v, p) in vars {
            binding[v] = rel.cols[p][r as usize];
        }
        if filters.iter().all(|f| holds(f, &binding, dict)) {
            m.rows[0].push(r);
            for &(v, _) in &kept {
                m.vars[v].push(binding[v]);
            }
        }
    }
}

pub(super) fn holds(f: &IdFilter, binding: &[u32], dict: &Dict) -> bool {
    match f {
        IdFilter::Ids { lhs, op, rhs } => {
            let id = |s: Result<usize, u32>| match s {
                Ok(v) => binding[v],
                Err(c) => c,
            };
            op.holds(dict.cmp(id(*lhs), id(*rhs)))
        }
        IdFilter::Arith(f) => f.holds(&|v| dict.value(binding[v])),
    }
}

/// Filter arithmetic computes with numbers: a variable it reads must not take a string
/// value. The values it can take are those at its positions in every atom that binds it,
/// among the candidate rows (so the check does not depend on the join order); the smallest
/// string among them (in content order) is reported, at its first candidate row.
fn not_numeric(
    body: &Body,
    atoms: &[&GroundRelation],
    candidates: &[Vec<u32>],
    atom_vars: &[Vec<(usize, usize)>],
    dict: &Dict,
) -> Option<Overrun> {
    let mut vars: Vec<VarId> = body.filters.iter().flat_map(|f| f.arith_vars()).collect();
    vars.sort_unstable();
    vars.dedup();
    let words = dict.len().div_ceil(64);
    for v in vars {
        let at: Vec<(usize, usize)> = atom_vars
            .iter()
            .enumerate()
            .filter_map(|(i, vs)| vs.iter().find(|(x, _)| *x == v).map(|&(_, p)| (i, p)))
            .collect();
        let mut common: Option<Vec<u64>> = None;
        for &(i, p) in &at {
            let mut set = vec![0u64; words];
            for &r in &candidates[i] {
                let id = atoms[i].cols[p][r as usize] as usize;
                set[id / 64] |= 1 << (id % 64);
            }
            if let Some(c) = &mut common {
                c.iter_mut().zip(&set).for_each(|(a, b)| *a &= b);
            } else {
                common = Some(set);
            }
        }
        let Some(common) = common else { continue };
        let Some(bad) = (0..dict.len() as u32)
            .filter(|&id| common[id as usize / 64] & (1 << (id % 64)) != 0)
            .filter(|&id| !dict.value(id).is_number())
            .min_by(|&a, &b| dict.cmp(a, b))
        else {
            continue;
        };
        let (atom, p) = at[0];
        let row = *candidates[atom]
            .iter()
            .find(|&&r| atoms[atom].cols[p][r as usize] == bad)
            .expect("the value comes from a candidate row");
        return Some(Overrun::NotNumeric { var: v, atom, row });
    }
    None
}

fn variable_order(
    nvars: usize,
    atom_vars: &[Vec<(usize, usize)>],
    candidates: &[Vec<u32>],
) -> Vec<usize> {
    let occurs: Vec<Vec<usize>> = (0..nvars)
        .map(|v| {
            (0..atom_vars.len())
                .filter(|&i| atom_vars[i].iter().any(|(x, _)| *x == v))
                .collect()
        })
        .collect();
    let mut bound = vec![false; nvars];
    let mut order = vec![];
    for _ in 0..nvars {
        let best = (0..nvars)
            .filter(|&v| !bound[v] && !occurs[v].is_empty())
            .max_by_key(|&v| {
                let connected = occurs[v]
                    .iter()
                    .filter(|&&a| atom_vars[a].iter().any(|(x, _)| bound[*x]))
                    .count();
                let smallest = occurs[v]
                    .iter()
                    .map(|&a| candidates[a].len())
                    .min()
                    .unwrap_or(0);
                (
                    connected,
                    occurs[v].len(),
                    std::cmp::Reverse(smallest),
                    std::cmp::Reverse(v),
                )
            });
        match best {
            Some(v) => {
                bound[v] = true;
                order.push(v);
            }
            None => break,
        }
    }
    order
}

struct Search<'s> {
    tries: &'s [Trie],
    order: &'s [usize],
    /// `part[k]`: (atom, trie depth) of the atoms that contain the k-th variable.
    part: &'s [Vec<(usize, usize)>],
    filters_at: &'s [Vec<usize>],
    filters: &'s [IdFilter<'s>],
    dict: &'s Dict,
    binding: Vec<u32>,
    /// The variables the match list keeps.
    recorded: &'s [usize],
    /// `ranges[k * atoms + i]`: atom i's sorted-row range when binding level k.
    ranges: Vec<(usize, usize)>,
    out: Matches,
    /// Matches this search found, and how many of them were counted in `found`.
    emitted: usize,
    checked: usize,
    /// The most matches the budget has room for, over all pieces.
    max: usize,
    found: &'s AtomicUsize,
    stopped: &'s AtomicBool,
    /// Set when the search stopped early.
    stop: Option<Stop>,
}

/// Why a search stopped early.
#[derive(Clone, Copy, Debug)]
enum Stop {
    Budget,
    /// The allocator refused this many bytes.
    Alloc(u64),
}

impl Search<'_> {
    /// Adds the matches found since the last check to the count of all pieces; stops when
    /// that passes the budget (or another piece stopped), else reserves room for the next
    /// [`CHECK_EVERY`] matches, fallibly.
    fn checkpoint(&mut self) {
        let delta = self.emitted - self.checked;
        self.checked = self.emitted;
        let total = self.found.fetch_add(delta, Relaxed) + delta;
        // Another piece that stopped stops this one at its next check.
        if total > self.max || self.stopped.load(Relaxed) {
            self.stop = Some(Stop::Budget);
            self.stopped.store(true, Relaxed);
            return;
        }
        self.reserve();
    }

    fn reserve(&mut self) {
        use nrp_data::memory::try_reserve;
        let mut result = Ok(());
        for v in &mut self.out.rows {
            result = result.and_then(|()| try_reserve(v, CHECK_EVERY));
        }
        for &v in self.recorded {
            result = result.and_then(|()| try_reserve(&mut self.out.vars[v], CHECK_EVERY));
        }
        if let Err(e) = result {
            self.stop = Some(Stop::Alloc(e.bytes));
        }
    }

    fn holds(&self, f: usize) -> bool {
        holds(&self.filters[f], &self.binding, self.dict)
    }

    fn level(&mut self, k: usize) {
        let n = self.tries.len();
        if k == self.order.len() {
            for (i, t) in self.tries.iter().enumerate() {
                let (lo, hi) = self.ranges[k * n + i];
                debug_assert_eq!(hi - lo, 1, "a full binding selects one row");
                self.out.rows[i].push(t.rows[lo]);
            }
            for &v in self.recorded {
                self.out.vars[v].push(self.binding[v]);
            }
            self.emitted += 1;
            if self.emitted - self.checked == CHECK_EVERY {
                self.checkpoint();
            }
            return;
        }
        let var = self.order[k];
        let part = &self.part[k];
        // Non-participants keep their ranges at the next level.
        let (cur, next) = self.ranges.split_at_mut((k + 1) * n);
        next[..n].copy_from_slice(&cur[k * n..(k + 1) * n]);
        // Drive the intersection with the smallest range.
        let &(driver, ddepth) = part
            .iter()
            .min_by_key(|&&(i, _)| cur[k * n + i].1 - cur[k * n + i].0)
            .expect("every variable occurs in an atom");
        let (mut lo, hi) = cur[k * n + driver];
        let dlevel = &self.tries[driver].levels[ddepth];
        'values: while lo < hi {
            let v = dlevel[lo];
            let end = upper_bound(dlevel, lo, hi, v);
            for &(i, d) in part {
                if i == driver {
                    self.ranges[(k + 1) * n + i] = (lo, end);
                    continue;
                }
                let trie = &self.tries[i];
                let whole = self.ranges[k * n + i] == (0, trie.rows.len());
                if let (0, Some(first), true) = (d, &trie.first, whole) {
                    // The atom's first variable, its range the whole trie (not a piece of a
                    // split join): one lookup.
                    let (from, to) = (first[v as usize] as usize, first[v as usize + 1] as usize);
                    self.ranges[(k + 1) * n + i] = (from, to);
                    if from == to {
                        lo = end;
                        continue 'values;
                    }
                    continue;
                }
                let level = &trie.levels[d];
                let (ilo, ihi) = self.ranges[k * n + i];
                // Values increase, so the search restarts where the last one stopped.
                let from = self.ranges[(k + 1) * n + i].0.max(ilo);
                let start = gallop(level, from, ihi, v);
                if start == ihi {
                    break 'values; // this atom has no larger values left
                }
                if level[start] != v {
                    self.ranges[(k + 1) * n + i] = (start, start);
                    lo = end;
                    continue 'values;
                }
                self.ranges[(k + 1) * n + i] = (start, upper_bound(level, start, ihi, v));
            }
            self.binding[var] = v;
            if self.filters_at[k + 1].iter().all(|&f| self.holds(f)) {
                self.level(k + 1);
                if self.stop.is_some() {
                    return;
                }
            }
            // Deeper levels overwrote nothing of level k + 1's participant starts; restore
            // the driver's cursor for the next value.
            lo = end;
        }
    }
}

/// First index in `lo..hi` with `xs[i] >= v`, searching forward from `lo` in doubling steps.
fn gallop(xs: &[u32], lo: usize, hi: usize, v: u32) -> usize {
    if lo >= hi || xs[lo] >= v {
        return lo;
    }
    let mut step = 1;
    let mut prev = lo;
    let mut cur = lo + 1;
    while cur < hi && xs[cur] < v {
        prev = cur;
        step *= 2;
        cur = (cur + step).min(hi);
    }
    // xs[prev] < v, and xs[cur] >= v or cur == hi.
    prev + 1 + xs[prev + 1..cur].partition_point(|&x| x < v)
}

/// First index in `lo..hi` with `xs[i] > v` (`xs[lo] == v`).
fn upper_bound(xs: &[u32], lo: usize, hi: usize, v: u32) -> usize {
    lo + xs[lo..hi].partition_point(|&x| x <= v)
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
