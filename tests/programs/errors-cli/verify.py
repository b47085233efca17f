"""Checks errors-cli: bad arguments and checkpoints exit 1 with a one-line reason (and the
usage for malformed command lines); the good checkpoint gives Lin(x) = 0.5 a - b + 0.25."""
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
T = [(int(k), float(a), float(b)) for k, a, b in t.db("T")]
H = [((k,), [0.5 * a - 1.0 * b + 0.25]) for k, a, b in T]
q = "nrp query program.nrp --db db --relation "
t.csv(q + "H --load good.safetensors", H, 1, 1)
t.csv(q + "S --load good.safetensors", [((), [sum(h[0] for _, h in H)])], 0, 1)
t.error(q + "H --load missing.safetensors", "missing.safetensors: cannot read")
t.error(q + "H --load garbage.safetensors", "garbage.safetensors:", "not a safetensors file")
t.error(q + "H --load shape.safetensors", "tensor `Lin.weight` has shape [2, 1]", "has shape [1, 2]")
t.error(q + "H --load dtype.safetensors", "'Lin.bias': dtype I64 is not supported")
t.error(q + "H --load truncated.safetensors", "truncated.safetensors:", "truncated")
t.error("nrp query missing.nrp --db db --relation H", "cannot read program missing.nrp")
t.error(q + "Nope", "no rule of program.nrp derives `Nope` (derived relations: H, S)")
t.error(q + "T", "`T` is an input table")
t.error(q + "H --format xml", "`--format` is `csv` or `jsonl`, got `xml`")
t.error(q + "H --seed -1", "`--seed` expects a non-negative integer, got `-1`")
t.error(q + "H --seed many", "got `many`")
t.error("nrp query program.nrp --relation H", "`nrp query` needs `--db`")
t.error("nrp query program.nrp --db db", "`nrp query` needs `--relation`")
# Malformed command lines end with the command's synopsis (the overview for a bad command).
usage = "usage: nrp query PROGRAM --db SOURCE --relation NAME"
check_usage = "usage: nrp check PROGRAM [--db SOURCE]\n(`nrp check --help` describes every option)"
overview = "usage: nrp <command> PROGRAM [options]"
t.error(q + "H --accept=yes", "option `--accept` takes no value", usage)
t.error(q + "H --db db", "option `--db` is given twice", usage)
t.error(q.rstrip(), "option `--relation` needs a value", usage)
t.error(q + "H --bogus", "unknown option `--bogus` for `nrp query`", usage)
t.error("nrp check program.nrp --relation H", "unknown option `--relation` for `nrp check`", check_usage)
t.error("nrp check program.nrp other.nrp", "unexpected argument `other.nrp`", check_usage)
t.error("nrp query --db db --relation H", "`nrp query` needs a PROGRAM file", usage)
t.error("nrp frobnicate program.nrp", "unknown command `frobnicate`", overview)
t.error("nrp", overview)
t.done()
