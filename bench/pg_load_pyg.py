#!/usr/bin/env python3
"""The PyG user's way to load a GCN dataset from PostgreSQL (bench/pg_ground.sh):
pandas.read_sql of node, edge and feature, then the tensors PyG's GCN needs — edge_index
with self loops and the symmetric normalisation weights (what `gcn_norm` computes), x, y and
the split masks. Prints one line: `load_seconds <s>` (the same stage nrp reports).

  python bench/pg_load_pyg.py 'postgresql://user:pw@host:port/db' SCHEMA wide|long DIM

`wide`: feature(id, f0..f{DIM-1}); `long`: feature(id, dim, value). Needs pandas, torch and
psycopg2 (or SQLAlchemy with a PostgreSQL driver) in the venv; says which is missing.
"""
import sys
import time


def main():
    url, schema, layout, dim = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    try:
        import pandas as pd
        import torch
    except ImportError as e:
        sys.exit(f"pg_load_pyg.py needs pandas and torch in the venv: {e}")
    try:
        import psycopg2

        conn = psycopg2.connect(url)
    except ImportError:
        try:
            import sqlalchemy

            conn = sqlalchemy.create_engine(url).connect()
        except ImportError as e:
            sys.exit(f"pg_load_pyg.py needs psycopg2 or SQLAlchemy in the venv: {e}")
    q = lambda t: f'SELECT * FROM "{schema}"."{t}"'  # noqa: E731
    start = time.perf_counter()
    node = pd.read_sql(q("node"), conn)
    edge = pd.read_sql(q("edge"), conn)
    feat = pd.read_sql(q("feature"), conn)
    node = node.sort_values("id")
    n = len(node)
    if layout == "wide":
        feat = feat.sort_values("id")
        x = torch.tensor(feat.drop(columns="id").to_numpy(), dtype=torch.float32)
    else:
        x = torch.zeros(n, dim)
        x[torch.tensor(feat["id"].to_numpy()), torch.tensor(feat["dim"].to_numpy())] = torch.tensor(
            feat["value"].to_numpy(), dtype=torch.float32
        )
    y = torch.tensor(node["label"].to_numpy())
    split = node["split"].to_numpy()
    masks = {s: torch.tensor(split == s) for s in ("train", "val", "test")}
    ei = torch.tensor(edge[["src", "dst"]].to_numpy().T, dtype=torch.long)
    loops = torch.arange(n).repeat(2, 1)
    ei = torch.cat([ei, loops], dim=1)
    deg = torch.bincount(ei[1], minlength=n).float()
    w = deg[ei[0]].rsqrt() * deg[ei[1]].rsqrt()
    elapsed = time.perf_counter() - start
    assert x.shape[0] == n and w.shape[0] == ei.shape[1] and len(masks) == 3 and len(y) == n
    print(f"load_seconds {elapsed:.3f}")


if __name__ == "__main__":
    main()
