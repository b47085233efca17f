"""Checks encoders without the seeded weights: what the encoders must preserve.

- `Age` is affine in `age` (one `Linear(1, 2)`): differences are proportional.
- `DeptInline` is one row per code: equal departments, equal rows; three distinct rows.
- `Mixed` holds `age`, `active`, then `Dept`'s row of the department's code, then the
  one-hot of `active`; under `Side`, `TeamOf` and `DeptOf` share `Dept`'s code table (eng
  hr ops sales over both rules' values): a name has one row, four names four rows.
- `Codes` are the positions in the sorted distinct departments; `Days` and `Recent` are
  ISO dates as days since 1970-01-01 (the filter compares ISO text).

    $PYTHON verify.py
"""
import datetime, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
users = {int(u): (d, float(a), float(x)) for u, d, a, x in t.db("Users")}
knows = {int(s): team for s, _, team in t.db("Knows")}


def out(name):
    got = t._get(Q + name)
    t.checked += 1
    lines = got[0].strip().split("\n")[1:]
    return {int(l.split(",")[0]): [float(x) for x in l.split(",")[1:]] for l in lines}


def check(ok, what):
    if not ok:
        t.failures.append(what)


age = out("Age")
(u0, r0), *rest = sorted(age.items())
slope = None
for u, r in rest:
    da = users[u][1] - users[u0][1]
    s = [(x - y) / da for x, y in zip(r, r0)]
    slope = slope or s
    check(all(abs(a - b) <= 1e-4 * max(1, abs(b)) for a, b in zip(s, slope)), f"Age not affine at {u}")

inline = out("DeptInline")
for u in users:
    for v in users:
        same = users[u][0] == users[v][0]
        check((inline[u] == inline[v]) == same, f"DeptInline rows {u} {v}")

mixed = out("Mixed")
table = sorted({d for d, _, _ in users.values()} | set(knows.values()))
for u, (d, a, x) in users.items():
    row = mixed[u]
    check(row[:2] == [a, x] and row[4:] == [1.0 - x, x], f"Mixed row {u}: {row}")
team = out("TeamOf")
check(len({tuple(r) for r in team.values()}) == len(team), "TeamOf rows differ by team")
# Under `Side` one table codes teams and departments: equal names, equal rows; four names,
# four distinct rows of `Dept`.
side = out("Side")
by_name = {}
for s, row in side.items():
    for name, part in ((knows[s], row[:2]), (users[s][0], row[2:])):
        by_name.setdefault(name, set()).add(tuple(part))
check(all(len(v) == 1 for v in by_name.values()), f"Side: one name, several rows {by_name}")
check(len({next(iter(v)) for v in by_name.values()}) == len(by_name) == 4, f"Side codes {by_name}")

codes = sorted({d for d, _, _ in users.values()})
want = [((u,), [float(codes.index(d))]) for u, (d, _, _) in users.items()]
t.csv(Q + "Codes", want, 1, 1)
t.csv(Q + "Codes --reference", want, 1, 1)


def seconds(text):
    text = text.replace("T", " ")
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M" if ":" in text else "%Y-%m-%d"
    d = datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


events = {int(i): at for i, at in t.db("Events")}
days = [((i,), [nc.f32(nc.f32(seconds(at)) / 86400)]) for i, at in events.items()]
t.csv(Q + "Days", days, 1, 1, 1e-6)
t.csv(Q + "Recent", [r for r in days if events[r[0][0]] >= "2023-01-01"], 1, 1, 1e-6)

t.error(Q.replace("program", "errors/too-many-categories") + "Small", "1:10", "needs an integer index in 0..2, got 2")
t.error(Q.replace("program", "errors/bare-text") + "Bare", "1:9", "cannot encode the non-numeric value \"sales\"", "needs an encoder")
t.error("nrp check errors/encoder-of-embedding.nrp --db db", "1:22", "`z` is an embedding")
t.error("nrp check errors/encoder-arguments.nrp --db db", "1:25", "to close the encoded column")
t.done()
