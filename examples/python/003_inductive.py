"""Inductive prediction: train on known rows, add new rows, predict again (the flow of
RelaNN's relbench F1 examples, on a small table made here).

Drivers have a feature vector; their score is a fixed function of their features and
of the races they ran. The model is trained on the drivers known at first; then new
drivers (and their results) are added to the tables, the same `?pred` is issued again —
it re-evaluates on the grown tables, it does not add a second union branch — and the
error on the new drivers is measured once their labels arrive.

    python examples/python/003_inductive.py
"""

import numpy as np
import pandas as pd

import nrp

rng = np.random.default_rng(7)
N, KNOWN = 60, 40
feats = rng.normal(size=(N, 3))
drivers = pd.DataFrame(feats, columns=["f0", "f1", "f2"])
drivers.insert(0, "driver", np.arange(N))
races = pd.DataFrame(
    {"driver": rng.integers(0, N, size=400), "race": np.arange(400), "points": rng.uniform(0, 10, 400)}
)
mean_points = races.groupby("driver")["points"].mean().reindex(range(N), fill_value=0.0)
score = feats @ np.array([1.0, -2.0, 0.5]) + 0.3 * mean_points.to_numpy()
labels = pd.DataFrame({"driver": np.arange(N), "score": score})

known = drivers["driver"] < KNOWN
s = nrp.Session(
    db={
        "Drivers": drivers[known],
        "Results": races[races["driver"] < KNOWN],
        "TrainLabels": labels[labels["driver"] < KNOWN],
    },
    seed=0,
    threads=1,
)
s.run(
    """
    Form(d; mean([p])) :- Results(d, r, p) .
    Inputs(d; Concat(x, f)) :- Drivers(d; x), Form(d; f) .
    Score(d; Linear(16, 1)(ReLU(Linear(4, 16)(z)))) :- Inputs(d; z) .
    ?fit <epochs=300, lr=0.02>
    Loss(; MSELoss()(p, [y])) :- Score(d; p), TrainLabels(d, y) .
    """
)
print(f"training loss {s.history['loss'].iloc[0]:.3f} -> {s.history['loss'].iloc[-1]:.3f}")

before = s.run("?pred Predictions(d; z) :- Score(d; z) .")
print(f"predictions before: {len(before)} drivers")

# New drivers arrive, with their results; the same ?pred again.
s.set_table("Drivers", drivers)
s.set_table("Results", races)
after = s.run("?pred Predictions(d; z) :- Score(d; z) .")
print(f"predictions after:  {len(after)} drivers")
assert len(after) == N
# Known drivers keep their predictions: re-issuing does not add a second branch.
np.testing.assert_allclose(after["e0"][:KNOWN][before["c0"]], before["e0"], rtol=1e-5)

# Labels of the new drivers, then the error on them.
s.set_table("TestLabels", labels[labels["driver"] >= KNOWN])
mae = s.run("?pred MAE(; mean(abs(p - [y]))) :- Predictions(d; p), TestLabels(d, y) .")
spread = labels["score"][KNOWN:].sub(labels["score"][:KNOWN].mean()).abs().mean()
print(f"MAE on the {N - KNOWN} new drivers: {float(mae['e0'][0]):.3f} "
      f"(predicting the training mean: {spread:.3f})")
