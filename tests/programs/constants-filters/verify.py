"""Recomputes constants-filters in plain Python: cells become numbers when they parse as
numbers (nc.value), and comparisons use nrp's total order (numbers before strings)."""
import os, sys, operator
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
T = [(nc.value(k), v) for k, v in t.db("T")]
Q = "nrp query program.nrp --db db --relation "
key = lambda v: nc.sort_key((v,))


def rel(name, rows, arity=1):
    t.csv(Q + name, [(r, []) for r in set(rows)], arity, 0)


def flt(op, c):
    c = nc.value(c) if isinstance(c, str) else c
    return sorted({k for k, _ in T if op(key(k), key(c))}, key=key)


for name in ("One", "OneDecimal", "OneString", "OneSingleQuoted"):
    rel(name, [(v,) for k, v in T if k == 1])
rel("Ten", [(v,) for k, v in T if k == 10])
rel("Keys", [(k,) for k, _ in T])
rel("Lt", [(k,) for k in flt(operator.lt, 2)])
rel("Le", [(k,) for k in flt(operator.le, 2.5)])
rel("Gt", [(k,) for k in flt(operator.gt, "a")])
rel("Ge", [(k,) for k in flt(operator.ge, 10)])
rel("Ne", [(k,) for k in flt(operator.ne, 1)])
rel("Eq", [(k,) for k, v in T if v == "b"])
rel("EqNum", [(v,) for k, v in T if k == 10])
rel("Neg", [(k,) for k in flt(operator.lt, -1)])
rel("Pair", [(a, b) for a, _ in T for b, _ in T if key(a) < key(b) <= key(2.5)], 2)
rel("Flip", [(k,) for k, _ in T if key(2) < key(k) and key("x") >= key(k)])
t.csv(Q + "Tagged", [((2.5, "tag", 7, -0.5), [])], 4, 0)
t.jsonl(Q + "Tagged --format jsonl", [((2.5, "tag", 7, -0.5), [])], 4, 0)
t.done()
