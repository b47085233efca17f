"""Hello world: a two-layer GCN on Cora, step by step (RelaNN's 001 flow, nrp's Python API).

The tables are built here with pandas from the bundled CSV files (examples/data/cora), in
the shapes RelaNN's Cora loader gives: one row of 1433 features per paper, weighted
citations, and the labels of the training and test papers. The program is written for
this example (the same model as RelaNN's hello world: no bias, sum over citations).

    python examples/python/001_hello_world_gcn.py
"""

import pathlib

import numpy as np
import pandas as pd

import nrp

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "cora"

# 1. Load data: papers with their bag-of-words rows, citations with GCN weights
#    1/sqrt((deg(u)+1)(deg(v)+1)) and a self loop per paper, and labels.
node = pd.read_csv(DATA / "node.csv")
edge = pd.read_csv(DATA / "edge.csv")
feature = pd.read_csv(DATA / "feature.csv")

n = len(node)
x = np.zeros((n, 1433), dtype=np.float64)
x[feature["id"], feature["dim"]] = feature["value"]
x /= np.maximum(x.sum(axis=1, keepdims=True), 1.0)
papers = pd.DataFrame(x, columns=[f"f{i}" for i in range(1433)])
papers.insert(0, "paper", node["id"])

loops = pd.DataFrame({"src": node["id"], "dst": node["id"]})
links = pd.concat([edge, loops], ignore_index=True)
degree = links.groupby("dst").size()
links["w"] = 1.0 / np.sqrt(degree[links["src"]].to_numpy() * degree[links["dst"]].to_numpy())
cites = links.rename(columns={"src": "from_paper", "dst": "to_paper"})

labels = node[node["split"] == "train"][["id", "label"]]
test_labels = node[node["split"] == "test"][["id", "label"]]

# 2. A session over the tables.
s = nrp.Session(
    db={"Papers": papers, "Cites": cites, "Labels": labels, "TestLabels": test_labels},
    seed=0,
    threads=2,
)

# 3. The model: no training yet, only definitions.
s.run(
    """
    n_words = 1433 .
    width = 16 .
    n_topics = 7 .

    Proj1(p; Linear(n_words, width, False)(x)) :- Papers(p; x) .
    Spread1(q; sum(h * w)) :- Proj1(p; h), Cites(p, q; w) .
    Act1(q; ReLU(h)) :- Spread1(q; h) .
    Proj2(q; Linear(width, n_topics, False)(h)) :- Act1(q; h) .
    Logits(q; sum(h * w)) :- Proj2(p; h), Cites(p, q; w) .
    """,
    name="model",
)

# 4. Train: cross-entropy on the labelled papers.
s.run(
    """
    ?fit <epochs=200, lr=0.01, weight_decay=0.0005>
    TrainLoss(; CrossEntropyLoss()(y_hat, y)) :- Logits(p; y_hat), Labels(p; y) .
    """,
    name="train",
)
print(s.history[["epoch", "loss", "step_ms"]].iloc[[0, 49, 99, 199]].to_string(index=False))

# 5. Predict a topic for every paper.
topics = s.run("?pred Topic(p; ArgMax()(y)) :- Logits(p; y) .", name="predict")
print(topics.head())

# 6. Evaluate in one rule.
acc = s.run(
    "?pred Accuracy(; mean((t == y) * 1.0)) :- Topic(p; t), TestLabels(p; y) .",
    name="evaluate",
)
print(f"test accuracy: {float(acc['e0'][0]):.1%}")

# 7. Parameters: NumPy arrays with PyTorch's names and shapes.
for name, value in s.parameters().items():
    print(f"{name:24} {tuple(value.shape)}  mean {value.mean():+.4f}  std {value.std():.4f}")
