#!/usr/bin/env python3
"""Deterministic generator of the CSL data set (circular skip-link graphs).

    python3 tools/gen_csl.py [OUT_DIR]        # default examples/data/csl

CSL (Murphy, Srinivasan, Rao & Ribeiro, "Relational Pooling for Graph Representations",
ICML 2019): 150 graphs of 41 nodes, 10 classes of 15 graphs. A graph of class R is the
cycle 0-1-…-40-0 plus the skip links i — (i + R) mod 41, for R in
2, 3, 4, 5, 6, 9, 11, 12, 13, 16 (class index 0..9 in that order). Every graph is
4-regular, so message passing with uniform node features (1-WL) gives all 150 graphs the
same representation. The 15 graphs of a class are isomorphic copies whose node ids are
shuffled by a random permutation (random.Random(0), stdlib only), as in the original data.

Tables written:
  graph.csv  id,label,skip,split   150 rows; split: per class the first 9 graphs `train`,
                                   the next 3 `val`, the last 3 `test` (90/30/30)
  node.csv   id,graph              6150 rows; node ids are global (41 per graph)
  edge.csv   src,dst               24600 rows: both directions of the 82 undirected edges
                                   of each graph, sorted
The script also prints, per class, the number of closed walks of length 2..8 from a node
(= homomorphisms of the rooted cycle C_k): only lengths up to 8 separate all ten classes.
"""
import os
import random
import sys

N = 41
SKIPS = [2, 3, 4, 5, 6, 9, 11, 12, 13, 16]
PER_CLASS = 15


def closed_walks(skip, kmax=8):
    """Closed walks of length k from node 0 in the circulant graph C_41(1, skip)."""
    steps = [1, -1, skip, -skip]
    counts = [1] + [0] * (N - 1)  # walks of length j from 0 ending at each node
    out = []
    for _ in range(kmax):
        nxt = [0] * N
        for u, c in enumerate(counts):
            if c:
                for s in steps:
                    nxt[(u + s) % N] += c
        counts = nxt
        out.append(counts[0])
    return out


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "examples", "data", "csl")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(0)
    graphs, nodes, edges = [], [], []
    gid = 0
    for label, skip in enumerate(SKIPS):
        for j in range(PER_CLASS):
            split = "train" if j < 9 else "val" if j < 12 else "test"
            graphs.append((gid, label, skip, split))
            perm = list(range(N))
            rng.shuffle(perm)
            base = gid * N
            for i in range(N):
                nodes.append((base + i, gid))
            und = set()
            for i in range(N):
                for s in (1, skip):
                    a, b = perm[i], perm[(i + s) % N]
                    und.add((min(a, b), max(a, b)))
            assert len(und) == 2 * N
            for a, b in und:
                edges.append((base + a, base + b))
                edges.append((base + b, base + a))
            gid += 1
    edges.sort()
    with open(os.path.join(out, "graph.csv"), "w") as f:
        f.write("id,label,skip,split\n")
        f.writelines(f"{g},{l},{s},{sp}\n" for g, l, s, sp in graphs)
    with open(os.path.join(out, "node.csv"), "w") as f:
        f.write("id,graph\n")
        f.writelines(f"{v},{g}\n" for v, g in nodes)
    with open(os.path.join(out, "edge.csv"), "w") as f:
        f.write("src,dst\n")
        f.writelines(f"{a},{b}\n" for a, b in edges)
    print(f"wrote {len(graphs)} graphs, {len(nodes)} nodes, {len(edges)} directed edges to {out}")
    print("closed walks of length 2..8 from a node (hom(C_k, G, v)):")
    for skip in SKIPS:
        print(f"  skip {skip:2d}: {closed_walks(skip)[1:]}")


if __name__ == "__main__":
    main()
