#!/usr/bin/env python3
"""Build RelaNN's Cora database (relann/datasets.py::load_cora_dataset) as CSV for nrp.

Tables (column order = the loader's DataFrame columns, then the embedding tensor):
  Papers(pid; x[1433])            x = Planetoid features after T.NormalizeFeatures (row / row-sum)
  Citation(citing, target_id; w)  edge_index + add_self_loops (self loops appended), w = gcn_norm
                                  deg_inv_sqrt[src] * deg_inv_sqrt[dst], deg = degree(src) incl. loops
  Labels(target_id; y)            train nodes only (Planetoid train_mask, 140), class index
  TestLabels(cited; y)            test nodes only (1000), class index
  MetaRel(source_type, edge_type, target_type)  one row: Papers, Citation, Papers (embedding dim 0)
Source: SRC, default examples/data/cora (PyG Planetoid public split). Stdlib only.
usage: build_cora.py [SRC] OUT
"""
import csv, os, sys

src = sys.argv[1] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../examples/data/cora")
out = sys.argv[-1]
os.makedirs(out, exist_ok=True)

nodes = list(csv.DictReader(open(os.path.join(src, "node.csv"))))
N = len(nodes)
assert [int(r["id"]) for r in nodes] == list(range(N))
D = 1433
feat = [dict() for _ in range(N)]
for r in csv.DictReader(open(os.path.join(src, "feature.csv"))):
    feat[int(r["id"])][int(r["dim"])] = float(r["value"])
edges = [(int(r["src"]), int(r["dst"])) for r in csv.DictReader(open(os.path.join(src, "edge.csv")))]

# Papers: NormalizeFeatures (min over the whole tensor is 0 for bag-of-words)
with open(os.path.join(out, "Papers.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["pid"] + [f"x{j}" for j in range(D)])
    for i in range(N):
        s = max(sum(feat[i].values()), 1.0)
        row = ["0"] * D
        for j, v in feat[i].items():
            row[j] = repr(v / s)
        w.writerow([i] + row)

# Citation: add_self_loops appends (i, i) for every node after the original edges
all_e = edges + [(i, i) for i in range(N)]
deg = [0] * N
for s_, _ in all_e:
    deg[s_] += 1
dis = [d ** -0.5 if d > 0 else 0.0 for d in deg]
with open(os.path.join(out, "Citation.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["citing", "target_id", "w"])
    for s_, t in all_e:
        w.writerow([s_, t, repr(dis[s_] * dis[t])])

with open(os.path.join(out, "Labels.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["target_id", "y"])
    for r in nodes:
        if r["split"] == "train":
            w.writerow([r["id"], r["label"]])
with open(os.path.join(out, "TestLabels.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["cited", "y"])
    for r in nodes:
        if r["split"] == "test":
            w.writerow([r["id"], r["label"]])
with open(os.path.join(out, "MetaRel.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["source_type", "edge_type", "target_type"])
    w.writerow(["Papers", "Citation", "Papers"])
print("wrote", out, "nodes", N, "citation rows", len(all_e))
