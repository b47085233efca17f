"""Recomputes filter-arithmetic in plain Python (floats, numbers before strings)."""
import math, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
q = [(int(k), float(x), float(y)) for k, x, y in t.db("Q")]
p = [(int(k), nc.value(x), nc.value(y)) for k, x, y in t.db("P")]
v = {int(k): float(e) for k, e in t.db("V")}
limit = 4

def div(a, b):
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b

def rel(name, rows, arity=1, cmds=("",)):
    for c in cmds:
        t.csv(Q + name + c, [(r, []) for r in set(rows)], arity, 0)

rel("Sum", [(k,) for k, x, y in q if x + 1 > y])
rel("Twice", [(k,) for k, x, y in q if x * 2 <= 10])
rel("Negated", [(k,) for k, x, y in q if -x < -1])
rel("Limited", [(k,) for k, x, y in q if y <= limit])
rel("Powers", [(k,) for k, x, y in q if x ** 2 >= y * 4 + 1])
rel("Joined", [(k, j) for k, x, _ in q for j, _, y in q if x - y >= -limit / 2 and k != j], 2,
    ("", " --reference"))
rel("Flagged", [(k,) for k, x, _ in q if x == 1])
rel("Inf", [(k,) for k, x, _ in q if div(x, 0) > 1000])
rel("NaN", [(k,) for k, x, _ in q if div(x - x, 0) != 0], 1, ("", " --reference"))
rel("NaNEq", [(k,) for k, x, _ in q if div(x - x, 0) == 0])
w = sum(v[k] * x for k, x, y in q if k in v and x * y >= limit / 2)
for c in ("", " --reference"):
    t.csv(Q + "Weighted" + c, [((), [w])], 0, 1)
key = lambda a: nc.sort_key((a,))
rel("Mixed", [(k,) for k, x, y in p if key(x) > key(y)])
rel("MixedArith", [(k,) for k, _, y in p if key(2) < key(y)])
for cmd in ("nrp query string-data.nrp --db db --relation Bad",
            "nrp query string-data.nrp --db db --relation Bad --reference"):
    t.error(cmd, "string-data.nrp:1:23", "`x` holds the string \"abc\"", "column 2 of `P`, in the fact P(2, \"abc\", 1)")
t.error("nrp check string-constant.nrp --db db", "string-constant.nrp:1:27", "arithmetic on the string \"a\"")
t.error("nrp check nested.nrp --db db", "nested.nrp:1:23", "a filter compares once")
t.error("nrp check embedding.nrp --db db", "embedding.nrp:1:20", "`e` is an embedding variable")
t.error("nrp check infinite.nrp --db db", "infinite.nrp:1:27", "evaluates to inf")
t.done()
