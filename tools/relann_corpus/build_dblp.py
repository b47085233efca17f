#!/usr/bin/env python3
"""Build RelaNN's DBLP database (relann/datasets.py::load_dblp_dataset) as CSV for nrp,
from this repository's examples/data/hetero-dblp (PyG's `datasets.DBLP`, the same ids).

Tables (column order = the loader's DataFrame columns, then the embedding tensor):
  Author(author_id; x[334])          PyG data["author"].x  (bag of words, 0/1)
  Paper(paper_id; x[4231])           data["paper"].x       (bag-of-words counts; wide, ~120 MB)
  Term(term_id; x[50])               data["term"].x        (GloVe vectors)
  Conference(conference_id; x[1])    T.Constant(node_types="conference"): one column of 1.0
  AuthorPaper(author_id, paper_id; w)       PaperAuthor(paper_id, author_id; w)
  PaperTerm(paper_id, term_id; w)           TermPaper(term_id, paper_id; w)
  PaperConference(paper_id, conference_id; w)   ConferencePaper(conference_id, paper_id; w)
                                     edge_index of each PyG edge type, w = 1.0
  MetaRel(source_type, edge_type, target_type)  one row per edge table above, in the loader's order
  AuthorLabels(author_id; y)         train authors only (PyG train_mask), class index
Added here for evaluation (RelaNN's script scores in Python with the masks):
  AuthorValLabels(author_id; y), AuthorTestLabels(author_id; y)
usage: build_dblp.py [SRC] OUT     (stdlib only)
"""
import csv
import os
import sys

src = sys.argv[1] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../examples/data/hetero-dblp")
out = sys.argv[-1]
os.makedirs(out, exist_ok=True)


def rows(name):
    with open(os.path.join(src, name)) as f:
        return list(csv.DictReader(f))


def node_table(kind, table, dim):
    ids = [int(r["id"]) for r in rows(f"{kind}.csv")]
    n = len(ids)
    assert ids == list(range(n)), kind
    feat = [dict() for _ in range(n)]
    if dim is not None:
        for r in rows(f"feature_{kind}.csv"):
            feat[int(r["id"])][int(r["dim"])] = r["value"]
    d = dim or 1
    col = f"{table.lower()}_id"
    with open(os.path.join(out, f"{table}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([col] + [f"x{j}" for j in range(d)])
        for i in range(n):
            if dim is None:
                w.writerow([i, "1.0"])
            else:
                row = ["0"] * d
                for j, v in feat[i].items():
                    row[j] = v
                w.writerow([i] + row)
    return n


sizes = {
    "Author": node_table("author", "Author", 334),
    "Paper": node_table("paper", "Paper", 4231),
    "Term": node_table("term", "Term", 50),
    "Conference": node_table("conference", "Conference", None),
}
edges = [  # the loader's edge_type_map order
    ("author", "paper", "AuthorPaper", "Author", "Paper"),
    ("paper", "author", "PaperAuthor", "Paper", "Author"),
    ("paper", "term", "PaperTerm", "Paper", "Term"),
    ("paper", "conference", "PaperConference", "Paper", "Conference"),
    ("term", "paper", "TermPaper", "Term", "Paper"),
    ("conference", "paper", "ConferencePaper", "Conference", "Paper"),
]
for s, t, table, st, tt in edges:
    with open(os.path.join(out, f"{table}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"{st.lower()}_id", f"{tt.lower()}_id", "w"])
        for r in rows(f"edge_{s}_{t}.csv"):  # PyG's edge_index order (sorted by src, dst)
            w.writerow([r["src"], r["dst"], "1.0"])
with open(os.path.join(out, "MetaRel.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["source_type", "edge_type", "target_type"])
    for _, _, table, st, tt in edges:
        w.writerow([st, table, tt])
authors = rows("author.csv")
for split, table in [("train", "AuthorLabels"), ("val", "AuthorValLabels"), ("test", "AuthorTestLabels")]:
    with open(os.path.join(out, f"{table}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["author_id", "y"])
        n = 0
        for r in authors:
            if r["split"] == split:
                w.writerow([r["id"], r["label"]])
                n += 1
    sizes[table] = n
print("wrote", out, sizes)
