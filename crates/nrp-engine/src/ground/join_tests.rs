//! Unit tests of the generic join's search helpers.

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

#[test]
fn first_value_index_gives_each_values_rows() {
    // 3000 sorted values with gaps and runs, ids below 5000.
    let values: Vec<u32> = (0..3000u32).map(|i| i / 3 * 5 % 5000).collect();
    let mut values = values;
    values.sort_unstable();
    let rows: Vec<u32> = (0..values.len() as u32).collect();
    let trie = Trie::new(vec![values.clone()], rows, 5000);
    let first = trie.first.as_ref().expect("dense enough to index");
    for v in 0..5000u32 {
        let lo = values.partition_point(|&x| x < v);
        let hi = values.partition_point(|&x| x <= v);
        assert_eq!(
            (first[v as usize], first[v as usize + 1]),
            (lo as u32, hi as u32)
        );
    }
    // Ids far more numerous than rows: no index, the join searches.
    assert!(
        Trie::new(vec![values], (0..3000).collect(), 1 << 24)
            .first
            .is_none()
    );
}
