"""Checks memory-budget: what does not fit in --memory-limit is refused with exit 1 and a
message naming the module or rule, its size and the limit; estimates worked out by hand."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)

# Parameters: float32, so 4 bytes each; Linear(i, o) has o*i + o.
for cmd in ["check linear-huge.nrp", "run linear-huge.nrp --db db"]:
    assert 4 * (10**16 + 10**8) // 10**15 == 40
    t.error(f"nrp {cmd} --memory-limit 4G", "linear-huge.nrp:2:5:", "`L` (Linear(100000000, 100000000))",
            f"has {10**16 + 10**8} parameters: 40 PB", "memory limit of 4 GB", "^^^^")
for cmd in ["check linear-wide.nrp", "run linear-wide.nrp --db db"]:
    t.error(f"nrp {cmd} --memory-limit 4G", "linear-wide.nrp:1:5:", f"has {4 * 10**9 + 10**9} parameters: 20 GB")
for cmd in ["check embedding.nrp", "run embedding.nrp --db db"]:
    t.error(f"nrp {cmd} --memory-limit 4G", "embedding.nrp:1:5:", f"has {10**12} parameters: 4 TB")
for cmd in ["check layernorm.nrp", "query layernorm.nrp --db db --relation H"]:
    t.error(f"nrp {cmd} --memory-limit 4G", "layernorm.nrp:1:5:", f"has {2 * 10**9} parameters: 8 GB")
for cmd in ["check hidden.nrp", "run hidden.nrp --db db"]:
    t.error(f"nrp {cmd} --memory-limit 4G", "hidden.nrp:4:8:", f"has {1433 * 10**7 + 10**7} parameters: 57.4 GB")
t.error("nrp check total.nrp --memory-limit 3G", "total.nrp:3:5:", "need 4 GB together", "memory limit of 3 GB")
t.stdout("nrp check total.nrp --memory-limit 5G", t.blocks["nrp check total.nrp --memory-limit 5G"][0])
assert t.blocks["nrp check total.nrp --memory-limit 5G"][2] == 0
t.error("nrp check trained.nrp --memory-limit 4G", "trained.nrp:2:7:", "(2 GB); training holds 4 copies", "8 GB, more than the memory limit of 4 GB")
assert t.blocks["nrp check trained.nrp --memory-limit 8G"][2] == 0

# Embeddings.
t.error("nrp check concat.nrp --db db --memory-limit 4G", "concat.nrp:1:6:", "one row of this 1000000001-dimensional embedding")
t.error("nrp check repeat.nrp --db db --memory-limit 10E", "repeat.nrp:1:6:", "the dimension overflows")
t.error("nrp query wide-rows.nrp --db db --relation Folded --memory-limit 1G", "wide-rows.nrp:2:16:", "3 × 100000000 tensor (1.2 GB)")
t.error("nrp query wide-rows.nrp --db db --relation Trained --memory-limit 1G", "wide-rows.nrp:4:17:", "take 2.4 GB", "3 × 100000000 (1.2 GB)")
t.error("nrp query onehot.nrp --db db --relation H --memory-limit 4G", "onehot.nrp:2:6:", "take 12 GB", "3 × 1000000000")
t.error("nrp query onehot-dense.nrp --db db --relation G --memory-limit 4G", "onehot-dense.nrp:1:6:", "3 × 1000000000 tensor (12 GB)")
# The reference evaluator holds f64 vectors: three of 10^9 values are 24 GB.
t.error("nrp query onehot-dense.nrp --db db --relation G --memory-limit 4G --reference", "onehot-dense.nrp:1:6:", "the reference evaluator computes 1000000000-dimensional vectors here (24 GB")

# Joins. A and B have 100 rows each; E is the complete directed graph on 12 nodes.
A = len(t.db("A")); B = len(t.db("B")); E = len(t.db("E")); n = 12
assert (A, B, E) == (100, 100, n * (n - 1))
# Paths of five edges: E^5 / 12^4 (each inner node joins two atoms of 12 values each);
# cycles: E^5 / 12^5.
paths = round(E**5 / n**4); cycles = round(E**5 / n**5)
check = t.blocks["nrp check joins.nrp --db db --memory-limit 1G"][0]
for rel, matches in [("R", A * B), ("N", A * B), ("P", paths), ("C", cycles)]:
    assert any(l.split()[:2] == [rel, str(matches)] for l in check.splitlines()), (rel, matches, check)
t.error("nrp query joins.nrp --db db --relation R --memory-limit 500k", "joins.nrp:2:12:", f"about {A * B} matches", "a cross product", "500 kB")
t.error("nrp query joins.nrp --db db --relation N --memory-limit 500k", "joins.nrp:3:17:", f"about {A * B} matches")
t.error("nrp query joins.nrp --db db --relation P --memory-limit 100M", "joins.nrp:5:24:", f"about {paths} matches")
t.error("nrp query joins.nrp --db db --relation C --memory-limit 10M", "joins.nrp:6:18:", f"about {cycles} matches")
t.error("nrp check joins.nrp --db db --memory-limit 500k", "joins.nrp:2:12:", f"about {A * B} matches")
t.error("nrp explain joins.nrp --db db --memory-limit 500k", "joins.nrp:2:12:", f"about {A * B} matches")
t.error("nrp query joins.nrp --db db --relation R --memory-limit 500k --reference", "joins.nrp:2:12:", f"about {A * B} matches")
t.error("nrp query fits.nrp --db db --relation S --memory-limit 1M --threads 1", "fits.nrp:3:12:", "grounding the rule for `S` stopped after", "found more")
explain = t.blocks["nrp explain fits.nrp --db db --memory-limit 10M --threads 1"][0]
# 200 leaves: leaf -> hub -> leaf paths (200 * 200) and hub -> leaf -> hub (200).
assert f"→ {200 * 200 + 200} matches (estimated" in explain, explain
assert "memory (memory limit 10 MB)" in explain, explain

# Sizes on the command line.
t.error("nrp check fits.nrp --memory-limit 12X", "`--memory-limit`: expected a size such as `512M`, `8G`", "got `12X`")
t.error("nrp check fits.nrp --memory-limit 0", "at least one byte")
t.error("nrp check fits.nrp --memory-limit 1.5", "a number of bytes is whole")
t.error("nrp check fits.nrp --memory-limit=-1G", "got `-1G`")
t.error("nrp check fits.nrp --db db --memory-limit 1.5k", "fits.nrp:2:12:", "memory limit of 1.5 kB")
t.done()
