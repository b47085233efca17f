"""Recomputes zero-ary-and-empty in plain Python."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
Q = "nrp query program.nrp --db db --relation "
P = [(k, [float(x), float(y)]) for k, x, y in t.db("P")]
col = lambda j: [e[j] for _, e in P]
total = [sum(col(0)), sum(col(1))]
t.csv(Q + "Total", [((), total)], 0, 2)
t.jsonl(Q + "Total --format jsonl", [((), total)], 0, 2)
t.csv(Q + "Best", [((), [max(col(0)), max(col(1))])], 0, 2)
t.csv(Q + "Size", [((), [float(len(P))])], 0, 1)
t.csv(Q + "Scaled", [((), [2 * s + 1 for s in total])], 0, 2)
# A zero-ary, dimension-0 relation prints an empty header line, then one empty line per
# fact: one (the empty tuple) when true, none when false.
t.stdout(Q + "Exists", "\n\n")
t.stdout(Q + "Exists --format jsonl", "{}\n")
t.stdout(Q + "Missing", "\n")
t.csv(Q + "NoMatch", [], 0, 2)
t.stdout(Q + "NoMatch --format jsonl", "")
t.csv(Q + "NoRows", [], 1, 1)
t.csv(Q + "Joined", [], 1, 2)
t.done()
