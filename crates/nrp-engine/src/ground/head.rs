//! Head rows: the distinct head tuples of a rule's matches in content order, and the row
//! each match aggregates into. Content order is rank order, and ranks are dense integers
//! below the dictionary's size; so unless the dictionary is much larger than the match list
//! this is a counting sort (linear in both), not a comparison sort of millions of keys.

/// A derived relation's rows and its matches' head rows.
#[derive(Debug, PartialEq)]
pub struct HeadRows {
    /// The head tuples' ids, one column per head term, rows in content order.
    pub cols: Vec<Vec<u32>>,
    /// `head_row[m]`: the row match `m` aggregates into.
    pub head_row: Vec<u32>,
    pub rows: usize,
}

/// `ids` and `ranks` hold `total` head tuples of `k` values each (flat); every rank is
/// below `nranks`.
pub fn head_rows(ids: &[u32], ranks: &[u32], k: usize, total: usize, nranks: usize) -> HeadRows {
    debug_assert!(ids.len() == total * k && ranks.len() == total * k);
    // A counting pass touches every rank once: worth it unless ranks outnumber matches.
    let dense = nranks <= 4 * total + (1 << 16);
    if k == 1 && dense {
        return by_counting(ids, ranks, nranks);
    }
    let key = |i: usize| &ranks[i * k..(i + 1) * k];
    // Joins often enumerate in head order already (the head's variables bound first), or
    // in a few ordered runs (a union of sorted relations): those merge in linear time.
    let runs = 1 + (1..total).filter(|&i| key(i - 1) > key(i)).count();
    if runs == 1 {
        return scan(ids, ranks, k, total, 0..total);
    }
    let order = if runs <= 8 {
        let mut order: Vec<u32> = (0..total as u32).collect();
        order.sort_by(|&a, &b| key(a as usize).cmp(key(b as usize)));
        order
    } else if dense {
        radix_order(ranks, k, total, nranks)
    } else {
        let mut order: Vec<u32> = (0..total as u32).collect();
        order.sort_unstable_by(|&a, &b| key(a as usize).cmp(key(b as usize)));
        order
    };
    scan(ids, ranks, k, total, order.into_iter().map(|i| i as usize))
}

/// One value per head: a rank's row is the number of smaller ranks present.
fn by_counting(ids: &[u32], ranks: &[u32], nranks: usize) -> HeadRows {
    const ABSENT: u32 = u32::MAX;
    let mut row_of = vec![ABSENT; nranks];
    let mut id_of = vec![0u32; nranks];
    for (&r, &id) in ranks.iter().zip(ids) {
        row_of[r as usize] = 0;
        id_of[r as usize] = id;
    }
    let mut col = vec![];
    for (row, id) in row_of.iter_mut().zip(&id_of) {
        if *row != ABSENT {
            *row = col.len() as u32;
            col.push(*id);
        }
    }
    HeadRows {
        rows: col.len(),
        cols: vec![col],
        head_row: ranks.iter().map(|&r| row_of[r as usize]).collect(),
    }
}

/// Matches in head order by a least-significant-column-first counting sort (stable).
fn radix_order(ranks: &[u32], k: usize, total: usize, nranks: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..total as u32).collect();
    let mut next = vec![0u32; total];
    for j in (0..k).rev() {
        let mut start = super::bucket_starts((0..total).map(|i| ranks[i * k + j]), nranks);
        for &i in &order {
            let r = ranks[i as usize * k + j] as usize;
            next[start[r] as usize] = i;
            start[r] += 1;
        }
        std::mem::swap(&mut order, &mut next);
    }
    order
}

/// Numbers the distinct tuples of matches visited in head order.
fn scan(
    ids: &[u32],
    ranks: &[u32],
    k: usize,
    total: usize,
    order: impl Iterator<Item = usize>,
) -> HeadRows {
    let mut head_row = vec![0u32; total];
    let mut cols: Vec<Vec<u32>> = vec![vec![]; k];
    let mut rows = 0u32;
    // Tuple equality without a `memcmp` call per match (millions of one-value heads).
    let same = |a: usize, b: usize| match k {
        0 => true,
        1 => ranks[a] == ranks[b],
        2 => ranks[2 * a] == ranks[2 * b] && ranks[2 * a + 1] == ranks[2 * b + 1],
        _ => ranks[a * k..(a + 1) * k] == ranks[b * k..(b + 1) * k],
    };
    let mut prev = None;
    for i in order {
        if prev.is_none_or(|p| !same(i, p)) {
            for (j, col) in cols.iter_mut().enumerate() {
                col.push(ids[i * k + j]);
            }
            rows += 1;
        }
        head_row[i] = rows - 1;
        prev = Some(i);
    }
    HeadRows {
        cols,
        head_row,
        rows: rows as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: sort the tuples by rank, number the distinct ones.
    fn oracle(ids: &[u32], ranks: &[u32], k: usize, total: usize) -> HeadRows {
        let mut order: Vec<usize> = (0..total).collect();
        order.sort_by(|&a, &b| ranks[a * k..(a + 1) * k].cmp(&ranks[b * k..(b + 1) * k]));
        scan(ids, ranks, k, total, order.into_iter())
    }

    struct SplitMix(u64);
    impl SplitMix {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    #[test]
    fn every_path_agrees_with_sorting_the_tuples() {
        let mut rng = SplitMix(7);
        for case in 0..400 {
            let k = case % 4;
            let total = rng.below(60) as usize;
            // Few distinct values (many repeats) up to a rank space far larger than the
            // matches (the comparison-sort path); ids are a permutation of ranks.
            let nranks = [3, 50, 1 << 20][case % 3];
            let mut ranks: Vec<u32> = (0..total * k)
                .map(|_| rng.below(nranks as u64) as u32)
                .collect();
            if case % 5 == 0 {
                // Already in head order: the scan-only path.
                let mut t: Vec<&[u32]> = ranks.chunks(k.max(1)).collect();
                t.sort();
                ranks = t.concat();
            }
            let ids: Vec<u32> = ranks.iter().map(|&r| r ^ 0x55).collect();
            assert_eq!(
                head_rows(&ids, &ranks, k, total, nranks),
                oracle(&ids, &ranks, k, total),
                "case {case}: k={k} total={total} nranks={nranks}"
            );
        }
    }

    #[test]
    fn rows_number_distinct_heads_in_rank_order() {
        // Ranks 5, 2, 5, 9 → rows 1, 0, 1, 2; ids follow their ranks.
        let h = head_rows(&[50, 20, 50, 90], &[5, 2, 5, 9], 1, 4, 10);
        assert_eq!(h.cols, vec![vec![20, 50, 90]]);
        assert_eq!(h.head_row, vec![1, 0, 1, 2]);
        // Two-value heads through the radix sort.
        let h = head_rows(
            &[1, 2, 1, 1, 0, 3, 1, 2],
            &[1, 2, 1, 1, 0, 3, 1, 2],
            2,
            4,
            4,
        );
        assert_eq!(h.cols, vec![vec![0, 1, 1], vec![3, 1, 2]]);
        assert_eq!(h.head_row, vec![2, 1, 0, 2]);
    }
}
