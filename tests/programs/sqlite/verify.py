"""Recomputes the sqlite case with SQL queries on db.sqlite (python's sqlite3)."""
import os, sys, sqlite3, json
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db.sqlite --relation "
c = sqlite3.connect(os.path.join(t.dir, "db.sqlite"))
q = lambda sql: c.execute(sql).fetchall()
t.csv(Q + "Hop", [((u, v), [w]) for u, v, w in q("SELECT src, dst, w FROM edge")], 2, 1)
t.csv(Q + "Two", [((u, v), [s]) for u, v, s in q(
    "SELECT a.src, b.dst, SUM(a.w * b.w) FROM edge a JOIN edge b ON a.dst = b.src GROUP BY a.src, b.dst")], 2, 1)
t.csv(Q + "Kind", [((k,), [float(n)]) for k, n in q("SELECT kind, COUNT(*) FROM (SELECT DISTINCT id, kind FROM Node) GROUP BY kind")], 1, 1)
t.csv(Q + "Feats", [((i, k), [float(f), float(g)]) for i, k, f, g in q("SELECT * FROM Node")], 2, 2)
vec = {i: json.loads(v) for i, v in q("SELECT id, vec FROM Feat")}
acc = {}
for i, k in q("SELECT id, kind FROM Node"):
    acc[k] = [a + float(b) for a, b in zip(acc.get(k, [0.0, 0.0]), vec[i])]
t.csv(Q + "Weighted", [((k,), v) for k, v in acc.items()], 1, 2)
# k = 1 in SQL compares 1, 1.0 (numerically) and '1' (text affinity none): all three rows.
t.csv(Q + "One", [((l,), []) for (l,) in q("SELECT label FROM Mixed WHERE k = 1 OR k = '1'")], 1, 0)
t.csv(Q + "Keys", [((1,), []), (("one",), [])], 1, 0)
t.csv(Q + "Red", [((i,), [float(f), float(g)]) for i, f, g in q(
    "SELECT DISTINCT n.id, n.f, n.g FROM Tag t JOIN Node n ON t.id = n.id WHERE t.tag = 'red'")], 1, 2)
t.done()
