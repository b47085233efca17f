#!/usr/bin/env python3
"""Build RelaNN's DHN databases (tests/dhn/dhn_utils.py) for CSL as CSV folders for nrp.
Graphs: examples/data/csl (150 graphs x 41 nodes, 10 classes), node ids made local
(0..40) per graph as PyG's GNNBenchmarkDataset('CSL') / load_csl_dataset give them.
Needs networkx (pip install networkx) for nx.simple_cycles exactly as dhn_utils does.

  OUT/edge   build_dhn_db_edge (run_dhn_ghl.py --config c2_4, test_dhn_ghl_csl_c2_4.py):
             Node(graph_id, n; 1.0), Edge(graph_id, u, v; 1.0) both directions of every edge,
             AllNodePad(graph_id, n; 0 x10), GraphLabel(graph_id; y)
  OUT/hom    build_dhn_db(graphs, C2..C8) (simple_cycles=False -> enumerate_homomorphisms ->
             _simple_cycle_index): Node(graph_id, n; 1.0), Hom_Ck(graph_id, u, v, ...; 1.0) one row
             per rooted simple k-cycle (C2 = each edge both ways; Ck = every rotation of the cycle and
             of its reverse), plus a dummy row (gid, root, root, ...; 0.0) for roots with none;
             GraphLabel(graph_id; y)
  OUT/pure   build_pure_dhn_db: Node(graph_id, n; 1.0), Edge(graph_id, src, dst; 1.0), GraphLabel
  OUT/count  build_count_dhn_db(graphs, C2..C8): Node(graph_id, n; [1, log1p(count C2..C8)]) with
             injective (simple-cycle) counts per root (precompute_hom_counts), GraphLabel
GraphLabel holds all 150 graphs: RelaNN's CSL protocol trains on all graphs and reports train
accuracy (run_pure_benchmarks.py eval_mode 'auto' -> 'train'; run_dhn_ghl.py).
usage: build_csl.py OUT"""
import csv, math, os, sys
import networkx as nx
src = os.path.join(os.path.dirname(__file__), "../../examples/data/csl"); out = sys.argv[1]
N = 41
graphs_meta = list(csv.DictReader(open(f"{src}/graph.csv")))
G = [nx.Graph() for _ in graphs_meta]
for g in G: g.add_nodes_from(range(N))
for r in csv.DictReader(open(f"{src}/edge.csv")):
    s, d = int(r["src"]), int(r["dst"]); gid = s // N; assert d // N == gid
    if s != d: G[gid].add_edge(s % N, d % N)
labels = [int(r["label"]) for r in graphs_meta]
POS = list("uvwxyzabcdefghij")
PATS = [f"C{k}" for k in range(2, 9)]

def wr(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f); w.writerow(header); w.writerows(rows)

def rooted_cycles(g, kmax):
    """_simple_cycle_index: {k: {root: [tuples]}}"""
    res = {k: {} for k in range(2, kmax + 1)}
    for u, v in g.edges():
        res[2].setdefault(u, []).append((u, v)); res[2].setdefault(v, []).append((v, u))
    for cyc in nx.simple_cycles(g, length_bound=kmax):
        k = len(cyc)
        if k < 3: continue
        for c in (cyc, list(reversed(cyc))):
            for sh in range(k):
                t = tuple(c[sh:] + c[:sh]); res[k].setdefault(t[0], []).append(t)
    return res

for sub in ("edge", "hom", "pure", "count"): os.makedirs(f"{out}/{sub}", exist_ok=True)
node_rows = [(gid, n, 1.0) for gid, g in enumerate(G) for n in sorted(g.nodes())]
label_rows = [(gid, y) for gid, y in enumerate(labels)]
edge_rows = []
for gid, g in enumerate(G):
    for u, v in g.edges():
        edge_rows.append((gid, u, v, 1.0)); edge_rows.append((gid, v, u, 1.0))
# edge
wr(f"{out}/edge/Node.csv", ["graph_id", "n", "x"], node_rows)
wr(f"{out}/edge/Edge.csv", ["graph_id", "u", "v", "w"], edge_rows)
wr(f"{out}/edge/AllNodePad.csv", ["graph_id", "n"] + [f"p{i}" for i in range(10)], [(gid, n) + (0.0,) * 10 for gid, n, _ in node_rows])
wr(f"{out}/edge/GraphLabel.csv", ["graph_id", "y"], label_rows)
# pure
wr(f"{out}/pure/Node.csv", ["graph_id", "n", "x"], node_rows)
wr(f"{out}/pure/Edge.csv", ["graph_id", "src", "dst", "w"], edge_rows)
wr(f"{out}/pure/GraphLabel.csv", ["graph_id", "y"], label_rows)
# hom + count
hom = {p: [] for p in PATS}
counts = []
sig = {}
for gid, g in enumerate(G):
    rc = rooted_cycles(g, 8)
    for p in PATS:
        k = int(p[1:]); have = set()
        for root in g.nodes():
            for t in rc[k].get(root, []):
                hom[p].append((gid,) + t + (1.0,)); have.add(root)
        for root in g.nodes():
            if root not in have: hom[p].append((gid,) + (root,) * k + (0.0,))
    for n in sorted(g.nodes()):
        c = [len(rc[int(p[1:])].get(n, [])) for p in PATS]
        counts.append((gid, n, 1.0) + tuple(math.log1p(x) for x in c))
        sig.setdefault(tuple(c), set()).add(labels[gid])
wr(f"{out}/hom/Node.csv", ["graph_id", "n", "x"], node_rows)
for p in PATS:
    k = int(p[1:]); wr(f"{out}/hom/Hom_{p}.csv", ["graph_id"] + POS[:k] + ["w"], hom[p])
    print(p, len(hom[p]), "rows")
wr(f"{out}/hom/GraphLabel.csv", ["graph_id", "y"], label_rows)
wr(f"{out}/count/Node.csv", ["graph_id", "n", "c0"] + [f"log1p_{p}" for p in PATS], counts)
wr(f"{out}/count/GraphLabel.csv", ["graph_id", "y"], label_rows)
# injective rooted counts per class (what the Hom-table programs can see)
by_class = {}
for gid, g in enumerate(G):
    rc = rooted_cycles(g, 8) if gid % 15 == 0 else None
    if rc: by_class[labels[gid]] = [len(rc[int(p[1:])].get(0, [])) for p in PATS]
print("simple-cycle rooted counts C2..C8 per class (node 0):")
for c in sorted(by_class): print(" class", c, "skip", graphs_meta[c * 15]["skip"], by_class[c])
