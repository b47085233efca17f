#!/usr/bin/env python3
"""Build R-GCN's AIFB database as RelaNN's research/paper_experiments/rgcn/run_compare_entities_rgcn.py
`_build_db(data, num_nodes, num_rels, norms, feature_mode)` does, from examples/data/kg-aifb.

PyG Entities('AIFB') graph: every triple (s, r, o) gives edge s->o of type 2r and o->s of type 2r+1
(90 edge types). norms = _edge_norm_mean: 1 / in-degree of the target within its edge type.
Tables:
  E<r>(s, t; w)   r = 0..R-1, the edges of type r with w = norm; then _pad_edges_per_relation: every
                  node t with no incoming edge of type r gets a row (0, t; 0.0)
  MetaRel(ts, pe, tt)   rows ('Node', 'E<r>', 'Node') for r = 0..R-1 (embedding dim 0)
  Nodes(n; onehot[8285])   feature_mode 'one_hot' (torch.eye)   [--onehot]
  NodeIds(n; id)           'shared_lookup' / 'per_relation_lookup' (long node index)
  TrainLabels(n; y)        train persons (140), class index
  TestLabels(n; y)         test persons (36) -- not in _build_db; RelaNN scores test_idx/test_y in Python
With --augment: _augmented_data_view (inverse edges type r+90 and a self-loop type 180 for every
node: 181 relations), as the AIFB paper path (Arch A) uses.
usage: build_aifb.py OUT [--onehot] [--augment]"""
import csv, os, sys
src = os.path.join(os.path.dirname(__file__), "../../examples/data/kg-aifb")
out = sys.argv[1]; onehot = "--onehot" in sys.argv; augment = "--augment" in sys.argv
os.makedirs(out, exist_ok=True)
N = sum(1 for _ in csv.DictReader(open(f"{src}/entity.csv")))
nrel = sum(1 for _ in csv.DictReader(open(f"{src}/relation.csv")))
edges = []  # (s, t, type)
for r in csv.DictReader(open(f"{src}/triple.csv")):
    s, p, o = int(r["subject"]), int(r["relation"]), int(r["object"])
    edges.append((s, o, 2 * p)); edges.append((o, s, 2 * p + 1))
R = 2 * nrel
edges.sort(key=lambda e: (e[0], e[1], e[2]))  # PyG sorts by (src, dst, type)
if augment:
    edges = edges + [(t, s, k + R) for s, t, k in edges] + [(n, n, 2 * R) for n in range(N)]
    R = 2 * R + 1
per = [[] for _ in range(R)]
for s, t, k in edges:
    per[k].append((s, t))
for k in range(R):
    indeg = {}
    for s, t in per[k]:
        indeg[t] = indeg.get(t, 0) + 1
    with open(f"{out}/E{k}.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["s", "t", "w"])
        for s, t in per[k]:
            w.writerow([s, t, repr(1.0 / max(indeg[t], 1))])
        for t in range(N):
            if t not in indeg:
                w.writerow([0, t, "0.0"])
with open(f"{out}/MetaRel.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["ts", "pe", "tt"])
    for k in range(R):
        w.writerow(["Node", f"E{k}", "Node"])
with open(f"{out}/NodeIds.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["n", "id"])
    for n in range(N):
        w.writerow([n, n])
if onehot:
    with open(f"{out}/Nodes.csv", "w") as f:
        f.write("n," + ",".join(f"f{j}" for j in range(N)) + "\n")
        row = ["0"] * N
        for n in range(N):
            row[n] = "1"; f.write(f"{n}," + ",".join(row) + "\n"); row[n] = "0"
labels = list(csv.DictReader(open(f"{src}/label.csv")))
for name, split in (("TrainLabels", "train"), ("TestLabels", "test")):
    with open(f"{out}/{name}.csv", "w", newline="") as f:
        w = csv.writer(f); w.writerow(["n", "y"])
        for r in labels:
            if r["split"] == split:
                w.writerow([r["entity"], r["label"]])
print(f"wrote {out}: {N} nodes, {R} relations, {len(edges)} edges, onehot={onehot}")
