#!/usr/bin/env python3
"""Generates the synthetic benchmark databases (fixed seeds, deterministic) as CSV folders.

  python bench/gen_synthetic.py [--out bench/data/synthetic] [--only scale|triangles]

Needs numpy (the peer venv: $NRP_BENCH_VENV/bin/python). Both sides of a case read the
same folder. Written once; a folder with a `.complete` marker is left alone.

scale/      (case gcn-scale) 100,000 nodes, 2,000,000 directed edge rows (1,000,000
            undirected pairs, both directions, no self loops, no duplicates), 64-dim
            dense features, 10 classes. A planted partition: 40 % of the pairs join two
            nodes of the same class, 60 % are uniform; features = 0.1 * class centroid +
            N(0, 1), rounded to 4 decimals. Split: 10,000 train / 10,000 val / 80,000 test.
  node.csv     id,label,split
  edge.csv     src,dst            (sorted by src, dst)
  feature.csv  id,f0,...,f63      (wide: one row per node; nrp binds it as Feature(v; x))

triangles/  (case dhn-triangles) 10,000 nodes, 100,000 directed edge rows (50,000
            undirected pairs, both directions): 250 communities of 40 nodes, each
            intra-community pair present with probability 0.23 (about 45,000 pairs, many
            triangles), the rest uniform random pairs; 16-dim features = 0.5 * centroid of
            (community mod 4) + N(0, 1); label = community mod 4. Split 2,000 / 2,000 / 6,000.
  node.csv, edge.csv, feature.csv as above (feature.csv has f0..f15).

The wide feature table is the format both sides load fastest: 64 numbers per line, one
line per node (the `id,dim,value` form is 6.4 M lines with two extra integers each).
"""
import argparse
import os
import time

import numpy as np


def write_csv(path, header, cols, fmts):
    """Columns (1-d arrays) as a CSV file; fmts: printf formats per column."""
    tmp = path + ".tmp"
    n = len(cols[0])
    fmt = ",".join(fmts) + "\n"
    with open(tmp, "w") as f:
        f.write(",".join(header) + "\n")
        step = 50_000
        for s in range(0, n, step):
            block = [c[s:s + step].tolist() for c in cols]
            f.write("".join(fmt % row for row in zip(*block)))
    os.replace(tmp, path)


def undirected_pairs(rng, n, want, intra_pairs_fn):
    """`want` distinct undirected pairs (u < v): intra-group pairs from intra_pairs_fn,
    topped up with uniform pairs."""
    u, v = intra_pairs_fn()
    keys = set()
    out = []
    def add(a, b):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        ok = lo != hi
        k = lo[ok].astype(np.int64) * n + hi[ok]
        return k
    k = add(u, v)
    k = np.unique(k)
    rng.shuffle(k)
    k = k[:want]
    while len(k) < want:
        a = rng.integers(0, n, size=2 * (want - len(k)) + 1000)
        b = rng.integers(0, n, size=len(a))
        extra = add(a, b)
        k = np.concatenate([k, np.setdiff1d(np.unique(extra), k)[: want - len(k)]])
    return k[:want]


def finish(out, n, keys, x, labels, split, dim):
    lo, hi = keys // n, keys % n
    src = np.concatenate([lo, hi])
    dst = np.concatenate([hi, lo])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    ids = np.arange(n)
    write_csv(os.path.join(out, "node.csv"), ["id", "label", "split"],
              [ids, labels, split], ["%d", "%d", "%s"])
    write_csv(os.path.join(out, "edge.csv"), ["src", "dst"], [src, dst], ["%d", "%d"])
    x = np.round(x.astype(np.float64), 4)
    cols = [ids] + [x[:, d] for d in range(dim)]
    write_csv(os.path.join(out, "feature.csv"), ["id"] + [f"f{d}" for d in range(dim)],
              cols, ["%d"] + ["%.4f"] * dim)
    return len(src)


def splits(rng, n, n_train, n_val):
    s = np.array(["test"] * n, dtype=object)
    perm = rng.permutation(n)
    s[perm[:n_train]] = "train"
    s[perm[n_train:n_train + n_val]] = "val"
    return s


def gen_scale(out):
    rng = np.random.default_rng(20240604)
    n, classes, dim, pairs = 100_000, 10, 64, 1_000_000
    labels = rng.integers(0, classes, size=n)
    by_class = [np.flatnonzero(labels == c) for c in range(classes)]

    def intra():
        m = int(pairs * 0.4 * 1.05)
        c = rng.integers(0, classes, size=m)
        u = np.empty(m, dtype=np.int64)
        v = np.empty(m, dtype=np.int64)
        for k in range(classes):
            sel = c == k
            u[sel] = rng.choice(by_class[k], size=sel.sum())
            v[sel] = rng.choice(by_class[k], size=sel.sum())
        return u, v

    keys = undirected_pairs(rng, n, int(pairs * 0.4), intra)
    # the rest uniform
    while len(keys) < pairs:
        a = rng.integers(0, n, size=2 * (pairs - len(keys)))
        b = rng.integers(0, n, size=len(a))
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        k = np.unique((lo * n + hi)[lo != hi])
        k = np.setdiff1d(k, keys)
        rng.shuffle(k)
        keys = np.concatenate([keys, k[: pairs - len(keys)]])
    centroids = rng.standard_normal((classes, dim))
    x = 0.1 * centroids[labels] + rng.standard_normal((n, dim))
    return finish(out, n, keys, x, labels, splits(rng, n, 10_000, 10_000), dim)


def gen_triangles(out):
    rng = np.random.default_rng(20240605)
    n, size, dim, pairs, p_in = 10_000, 40, 16, 50_000, 0.23
    comm = np.arange(n) // size
    rng.shuffle(comm)
    members = [np.flatnonzero(comm == c) for c in range(n // size)]

    def intra():
        us, vs = [], []
        iu, iv = np.triu_indices(size, 1)
        for m in members:
            keep = rng.random(len(iu)) < p_in
            us.append(m[iu[keep]])
            vs.append(m[iv[keep]])
        return np.concatenate(us), np.concatenate(vs)

    keys = undirected_pairs(rng, n, pairs, intra)
    labels = comm % 4
    centroids = rng.standard_normal((4, dim))
    x = 0.5 * centroids[labels] + rng.standard_normal((n, dim))
    return finish(out, n, keys, x, labels, splits(rng, n, 2_000, 2_000), dim)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(here, "data", "synthetic"))
    p.add_argument("--only", choices=["scale", "triangles"])
    args = p.parse_args()
    for name, fn in (("scale", gen_scale), ("triangles", gen_triangles)):
        if args.only and args.only != name:
            continue
        out = os.path.join(args.out, name)
        if os.path.exists(os.path.join(out, ".complete")):
            print(f"{out}: exists")
            continue
        os.makedirs(out, exist_ok=True)
        t = time.perf_counter()
        rows = fn(out)
        open(os.path.join(out, ".complete"), "w").close()
        print(f"{out}: {rows} edge rows, {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
