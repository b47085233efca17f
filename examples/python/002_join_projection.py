"""Join, transform, project: one rule, checked by hand (RelaNN's 002 flow, nrp's API).

Users and their comments each carry a 2-dimensional embedding. The rule joins them on the
user, applies one Linear layer to the concatenated pair, and sums per user. The tables and
the rule are written for this example; the result is recomputed with NumPy from the
session's parameters.

    python examples/python/002_join_projection.py
"""

import numpy as np
import pandas as pd

import nrp

users = pd.DataFrame({"user": [1, 2, 3], "a": [1.0, 0.0, -1.0], "b": [0.5, 2.0, 1.0]})
comments = pd.DataFrame(
    {
        "comment": [10, 11, 12, 13, 14],
        "user": [1, 1, 2, 3, 3],
        "x": [0.1, 0.2, 0.3, 0.4, 0.5],
        "y": [1.0, -1.0, 0.0, 2.0, 1.0],
    }
)
print("Users:\n", users, "\nComments:\n", comments, sep="")

s = nrp.Session(db={"Users": users, "Comments": comments}, seed=0, threads=1)
result = s.run(
    """
    Mix = Linear(4, 2) .
    ?pred PerUser(u; sum(Mix(Concat(zu, zc)))) :- Users(u; zu), Comments(c, u; zc) .
    """
)
print("PerUser:\n", result, sep="")

# The same three steps in NumPy: join on the user, transform each joined row, sum per user.
w = s.parameters()
joined = comments.merge(users, on="user")
pairs = joined[["a", "b", "x", "y"]].to_numpy()
rows = pairs @ w["Mix.weight"].T + w["Mix.bias"]
expected = pd.DataFrame(rows, columns=["e0", "e1"]).groupby(joined["user"]).sum()
np.testing.assert_allclose(result[["e0", "e1"]].to_numpy(), expected.to_numpy(), rtol=1e-5)
print("matches the NumPy join -> Linear -> sum")

# How nrp grounds and runs it (RelaNN draws a term graph here).
print(s.explain())
