//! Generic join (worst-case optimal, variable at a time): every body is evaluated by
//! binding one variable after another, intersecting the candidate values of all atoms that
//! contain it. Each atom is a sorted trie (its rows sorted by its variables in the global
//! order); intersection is a leapfrog over sorted ranges with galloping search. On cyclic
//! bodies (triangles, 4-cycles) this never materialises the larger pairwise joins; on
//! acyclic ones it performs like a hash join.
//!
//! Variable order: greedily the variable shared by the most atoms, preferring variables
//! connected to those already bound, then smaller candidate sets (real cardinalities: all
//! dependencies are grounded before a rule is).

use super::{GroundRelation, JoinReport, Matches};
use crate::intern::Dict;
use nrp_sema::{Body, Filter, Term};

/// One atom as a trie: candidate rows sorted by its variables' values in global order.
struct Trie {
    /// `levels[j][k]`: the value of the atom's j-th variable (global order) in sorted row k.
    levels: Vec<Vec<u32>>,
    /// `rows[k]`: the relation row of sorted row k.
    rows: Vec<u32>,
    /// The atom's variables, in global order.
    vars: Vec<usize>,
}

pub fn join(
    body: &Body,
    atoms: &[&GroundRelation],
    consts: &[Vec<Option<u32>>],
    dict: &Dict,
) -> (Matches, JoinReport) {
    let nvars = body.vars.len();
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
        let rows = (0..rel.len as u32)
            .filter(|&r| {
                let r = r as usize;
                consts[i]
                    .iter()
                    .enumerate()
                    .all(|(pos, c)| c.is_none_or(|c| rel.cols[pos][r] == c))
                    && repeats
                        .iter()
                        .all(|&(p, q)| rel.cols[p][r] == rel.cols[q][r])
            })
            .collect();
        candidates.push(rows);
        atom_vars.push(first);
    }
    let order = variable_order(nvars, &atom_vars, &candidates);
    let rank: Vec<usize> = {
        let mut r = vec![usize::MAX; nvars];
        for (k, &v) in order.iter().enumerate() {
            r[v] = k;
        }
        r
    };
    let tries: Vec<Trie> = (0..atoms.len())
        .map(|i| {
            let mut vars = atom_vars[i].clone();
            vars.sort_by_key(|(v, _)| rank[*v]);
            let rel = atoms[i];
            let mut rows = candidates[i].clone();
            rows.sort_by(|&a, &b| {
                vars.iter()
                    .map(|&(_, p)| rel.cols[p][a as usize].cmp(&rel.cols[p][b as usize]))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
            let levels = vars
                .iter()
                .map(|&(_, p)| rows.iter().map(|&r| rel.cols[p][r as usize]).collect())
                .collect();
            Trie {
                levels,
                rows,
                vars: vars.into_iter().map(|(v, _)| v).collect(),
            }
        })
        .collect();
    // Each filter is checked as soon as its last variable is bound.
    let mut filters_at: Vec<Vec<&Filter>> = vec![vec![]; order.len() + 1];
    for f in &body.filters {
        let level = [&f.lhs, &f.rhs]
            .iter()
            .filter_map(|t| {
                if let Term::Var(v) = t {
                    Some(rank[*v] + 1)
                } else {
                    None
                }
            })
            .max()
            .unwrap_or(0);
        filters_at[level].push(f);
    }
    let mut m = Matches {
        rows: vec![vec![]; atoms.len()],
        vars: vec![vec![]; nvars],
        head: vec![],
    };
    let report = JoinReport {
        var_order: order.iter().map(|&v| body.vars[v].clone()).collect(),
        atom_sizes: candidates.iter().map(Vec::len).collect(),
        matches: 0,
    };
    let mut search = Search {
        tries: &tries,
        order: &order,
        filters_at: &filters_at,
        dict,
        binding: vec![u32::MAX; nvars],
        out: &mut m,
    };
    let consts_ok = filters_at[0].iter().all(|f| search.holds(f));
    if consts_ok && candidates.iter().all(|c| !c.is_empty()) {
        let ranges: Vec<(usize, usize)> = tries.iter().map(|t| (0, t.rows.len())).collect();
        let depth = vec![0; tries.len()];
        search.level(0, &ranges, &depth);
    }
    let matches = m.rows.first().map(Vec::len).unwrap_or(0);
    m.head = vec![0; matches];
    (m, JoinReport { matches, ..report })
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
    filters_at: &'s [Vec<&'s Filter>],
    dict: &'s Dict,
    binding: Vec<u32>,
    out: &'s mut Matches,
}

impl Search<'_> {
    fn holds(&self, f: &Filter) -> bool {
        let value = |t: &Term| match t {
            Term::Var(v) => self.dict.value(self.binding[*v]).clone(),
            Term::Const(c) => c.clone(),
        };
        f.op.holds(value(&f.lhs).cmp(&value(&f.rhs)))
    }

    fn level(&mut self, k: usize, ranges: &[(usize, usize)], depth: &[usize]) {
        if k == self.order.len() {
            for (i, t) in self.tries.iter().enumerate() {
                debug_assert_eq!(
                    ranges[i].1 - ranges[i].0,
                    1,
                    "a full binding selects one row"
                );
                self.out.rows[i].push(t.rows[ranges[i].0]);
            }
            for (v, col) in self.out.vars.iter_mut().enumerate() {
                col.push(self.binding[v]);
            }
            return;
        }
        let var = self.order[k];
        let part: Vec<usize> = (0..self.tries.len())
            .filter(|&i| self.tries[i].vars.get(depth[i]) == Some(&var))
            .collect();
        // Drive the intersection with the smallest range.
        let driver = *part
            .iter()
            .min_by_key(|&&i| ranges[i].1 - ranges[i].0)
            .expect("every variable occurs in an atom");
        let (mut lo, hi) = ranges[driver];
        let dlevel = &self.tries[driver].levels[depth[driver]];
        let mut cursors: Vec<usize> = part.iter().map(|&i| ranges[i].0).collect();
        let mut sub = ranges.to_vec();
        let mut next_depth = depth.to_vec();
        for &i in &part {
            next_depth[i] += 1;
        }
        'values: while lo < hi {
            let v = dlevel[lo];
            let end = upper_bound(dlevel, lo, hi, v);
            for (c, &i) in part.iter().enumerate() {
                if i == driver {
                    sub[i] = (lo, end);
                    continue;
                }
                let level = &self.tries[i].levels[depth[i]];
                let (_, ihi) = ranges[i];
                let start = gallop(level, cursors[c], ihi, v);
                cursors[c] = start;
                if start == ihi {
                    break 'values; // this atom has no larger values left
                }
                if level[start] != v {
                    lo = end;
                    continue 'values;
                }
                sub[i] = (start, upper_bound(level, start, ihi, v));
            }
            self.binding[var] = v;
            if self.filters_at[k + 1].iter().all(|f| self.holds(f)) {
                self.level(k + 1, &sub, &next_depth);
            }
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
mod tests {
    use super::*;

    #[test]
    fn gallop_finds_lower_bounds() {
        let xs = [1, 3, 3, 5, 8, 8, 8, 13];
        for v in 0..15 {
            for lo in 0..xs.len() {
                let want = lo + xs[lo..].partition_point(|&x| x < v);
                assert_eq!(gallop(&xs, lo, xs.len(), v), want, "v={v} lo={lo}");
            }
        }
        assert_eq!(upper_bound(&xs, 4, 8, 8), 7);
    }
}
