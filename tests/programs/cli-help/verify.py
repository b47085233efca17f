"""Checks cli-help: help texts list every option with its default, the three spellings of
help agree, dead flags and bad words are refused, and the initialisation warning appears
only with a partial --load."""
import os, re, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "verify"))
import nrpcheck as nc

t = nc.Transcript(__file__)
OPTIONS = {
    "run": {"db": True, "out": False, "seed": False, "threads": False, "save": False,
            "save-every": False, "resume": False, "no-fit": False, "load": False, "json": False},
    "check": {"db": False},
    "explain": {"db": True, "dot": False},
    "query": {"db": True, "relation": True, "load": False, "seed": False, "accept": False,
              "format": False, "reference": False, "threads": False},
}


def ok(cmd):
    out, err, code = t.blocks[cmd]
    t.checked += 1
    if code != 0 or err:
        t.failures.append(f"`{cmd}`: exit {code}, stderr {err!r}")
    return out


top = ok("nrp --help")
t.stdout("nrp help", top)
for c in OPTIONS:
    if not re.search(rf"^  {c} +\S", top, re.M):
        t.failures.append(f"`nrp --help` does not list `{c}`")
if "nrp <command> --help" not in top:
    t.failures.append("`nrp --help` does not point to `nrp <command> --help`")

for c, opts in OPTIONS.items():
    spelled = {"run": "nrp run --help", "check": "nrp check -h",
               "explain": "nrp explain --help", "query": "nrp query --help"}[c]
    h = ok(spelled)
    usage = h.split("usage: ", 1)[1].split("\n\n", 1)[0]
    usage = " ".join(usage.split())
    if not usage.startswith(f"nrp {c} PROGRAM"):
        t.failures.append(f"`{spelled}`: synopsis {usage!r}")
    listed = re.findall(r"^  --([a-z-]+)", h, re.M)
    if sorted(listed) != sorted(opts):
        t.failures.append(f"`{spelled}`: options {listed}, expected {sorted(opts)}")
    for name, required in opts.items():
        line = next((l for l in h.splitlines() if l.startswith(f"  --{name} ")), "")
        if required != line.endswith("(required)") or (not required and "(default: " not in line):
            t.failures.append(f"`{spelled}`: --{name}: {line!r}")
        in_brackets = f"[--{name}" in usage
        if in_brackets == required:
            t.failures.append(f"`{spelled}`: --{name} bracketed {in_brackets} in {usage!r}")
    if not re.search(rf"\nexample:\n  nrp {c} \S", h):
        t.failures.append(f"`{spelled}`: no example")
    if any(len(l) > 100 for l in h.splitlines()):
        t.failures.append(f"`{spelled}`: a line longer than 100 characters")

t.stdout("nrp help run", ok("nrp run --help"))
t.stdout("nrp query program.nrp --db db -h", ok("nrp query --help"))

t.error("nrp help frobnicate", "unknown command `frobnicate`", "usage: nrp <command>")
t.error("nrp help run query", "`nrp help` takes one command")
t.error("nrp run program.nrp --db db --reference", "unknown option `--reference` for `nrp run`",
        "usage: nrp run PROGRAM", "`nrp run --help`")
t.error("nrp explain program.nrp --db db --threads 2",
        "unknown option `--threads` for `nrp explain`")
t.error("nrp check -x program.nrp", "unknown option `-x` for `nrp check`")
t.error("nrp query program.nrp --db db --relation H --threads 0", "`--threads` must be at least 1")

X = [(int(v), float(a), float(b)) for v, a, b in t.db("X")]
q = "nrp query program.nrp --db db --relation "
ok(q + "HB")
t.csv(q + "H --load a.safetensors", [((v,), [0.5 * a - b + 0.25]) for v, a, b in X], 1, 1)
out, err, code = t.blocks[q + "HB --load a.safetensors"]
t.checked += 1
want = ("warning: 2 of the 4 parameters used are not in a.safetensors; "
        "initialised from --seed 0: B.bias, B.weight\n")
if code != 0 or err != want:
    t.failures.append(f"HB --load: exit {code}, stderr {err!r}, expected {want!r}")
t.done()
