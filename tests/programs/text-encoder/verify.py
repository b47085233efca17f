"""Recomputes text-encoder in plain Python from the weights make_weights.py writes: a text
is split at whitespace (`str.split()`), no tokens is the token `<empty>`, each token's
bucket is `zlib.crc32(utf8) % buckets`, and the value is the mean of the buckets' rows.

    $PYTHON verify.py
"""
import os, sys, zlib
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
L = " --load weights.safetensors"
papers = [(int(p), title, year) for p, title, year in t.db("Papers")]


def table(n, d):  # make_weights.py: row r, column j is r + j / 4
    return [[r + j / 4 for j in range(d)] for r in range(n)]


def encode(text, w):
    tokens = text.split() or ["<empty>"]
    rows = [w[zlib.crc32(tok.encode("utf-8")) % len(w)] for tok in tokens]
    return [sum(col) / len(tokens) for col in zip(*rows)]


enc, both = table(8, 3), table(4, 2)
title = {p: encode(ti, enc) for p, ti, _ in papers}
for cmd in (Q + "Title" + L, Q + "Title" + L + " --reference"):
    t.csv(cmd, [((p,), v) for p, v in title.items()], 1, 3, tol=1e-6)
t.csv(Q + "Both" + L, [((p,), [float(y)] + encode(ti, both)) for p, ti, y in papers], 1, 3, tol=1e-6)
# A number column is encoded from its text: `2019` is the one token "2019".
t.csv(Q + "Year" + L, [((p,), encode(y, enc)) for p, _, y in papers], 1, 3, tol=1e-6)
cited = {}
for a, _, _ in papers:
    for b, _, _ in papers:
        if a < b:
            cited[b] = [x + y for x, y in zip(cited.get(b, [0.0] * 3), title[a])]
for cmd in (Q + "Cited" + L, Q + "Cited" + L + " --reference"):
    t.csv(cmd, [((b,), v) for b, v in cited.items()], 1, 3, tol=1e-6)
# Seeded initial weights: equal texts (the empty and the all-blank title) equal rows.
got = t._get(Q + "Title")
t.checked += 1
rows = {int(l.split(",")[0]): l.split(",")[1:] for l in got[0].strip().split("\n")[1:]}
if rows[3] != rows[5] or len({tuple(r) for r in rows.values()}) != 4:
    t.failures.append(f"initial Title rows: {rows}")
# Composed (seeded weights): the engine's f32 values are the reference's, within f32.
for rel in ("A", "B", "M"):
    cmd = "nrp query composed.nrp --db db --relation " + rel
    eng, ref = t._get(cmd), t._get(cmd + " --reference")
    t.checked += 2
    if eng is None or ref is None:
        continue
    pairs = list(zip(eng[0].strip().split("\n"), ref[0].strip().split("\n")))
    if len(eng[0].strip().split("\n")) != len(ref[0].strip().split("\n")) or pairs[0][0] != pairs[0][1]:
        t.failures.append(f"{cmd}: engine and reference differ in shape")
        continue
    for a, b in pairs[1:]:
        a, b = a.split(","), b.split(",")
        if a[0] != b[0] or any(abs(float(x) - float(y)) > 1e-5 * max(1.0, abs(float(y))) for x, y in zip(a[1:], b[1:])):
            t.failures.append(f"{cmd}: engine {a}, reference {b}")
t.error("nrp check errors/of-embedding.nrp --db db", "of-embedding.nrp:3:8", "encodes a text column, not an embedding")
t.error("nrp check errors/two-columns.nrp --db db", "two-columns.nrp:1:36", "encodes one text column, got 2 items")
t.error("nrp check errors/arguments.nrp --db db", "arguments.nrp:1:31", "`num_buckets` of `HashBucketTextEncoder` must be a positive integer, got 0")
t.done()
