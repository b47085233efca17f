#!/usr/bin/env python3
"""Extract RelaNN's complete programs from a checkout of its repository.

    python3 tools/relann_corpus/extract.py RELANN_CHECKOUT OUT_DIR

RelaNN (github.com/yuvallu/relann) keeps its programs inside Python scripts, as string
literals, f-strings and `Session.run(...)` calls. This script writes each complete program
(define + fit + pred pieces, in the order the script runs them, with f-string parameters
set to the defaults or paper values listed in OUT_DIR/INDEX.md) to OUT_DIR/<name>.relnn, so
that `check.sh` can run `nrp check` on them. Nothing of RelaNN is copied into this
repository: the programs are read from the user's checkout when this runs.

Scripts that build their program by running (examples 001, 003, 004) are executed with every
third-party import replaced by an inert stub and RelaNN's `Session.run` recording its text.
The line numbers below are those of RelaNN commit COMMIT; another commit may need them
updated (a missing line is a KeyError naming it).
"""
import ast, builtins, importlib.abc, importlib.machinery, os, runpy, sys, textwrap, types

COMMIT = "246abdb4fec00fc6731b201f3a4ef0c0c2d799c5"
if len(sys.argv) != 3:
    sys.exit(__doc__)
SRC, OUT = os.path.abspath(sys.argv[1]), sys.argv[2]
sys.path.insert(0, SRC)
os.makedirs(OUT, exist_ok=True)

# ---------- a stubbed world for running RelaNN's scripts ----------

RUNS = []

class Stub:
    def __init__(self, name="stub"):
        object.__setattr__(self, "_n", name)
    def __getattr__(self, a):
        if a.startswith("__") and a.endswith("__"):
            raise AttributeError(a)
        return Stub(self._n + "." + a)
    def __call__(self, *a, **k): return Stub(self._n + "()")
    def __getitem__(self, k): return Stub(self._n + "[]")
    def __setitem__(self, k, v): pass
    def __setattr__(self, k, v): pass
    def __iter__(self): return iter([])
    def __len__(self): return 0
    def __bool__(self): return False
    def __int__(self): return 1
    def __index__(self): return 1
    def __float__(self): return 1.0
    def __str__(self): return "STUB<%s>" % self._n
    __repr__ = __str__
    def __format__(self, spec): return "STUB<%s>" % self._n
    def __enter__(self): return self
    def __exit__(self, *a): return False
    def __mro_entries__(self, bases): return (object,)
    def __contains__(self, x): return False
    def __hash__(self): return id(self)
    def __eq__(self, o): return False
for op in ["add","sub","mul","truediv","floordiv","mod","pow","radd","rsub","rmul","rtruediv","rfloordiv","and","or","lt","gt","le","ge","neg","matmul"]:
    setattr(Stub, "__%s__" % op, lambda self, *a: Stub(self._n + "op"))

class Session:
    def __init__(self, *a, **k): pass
    def run(self, text, *a, **k):
        RUNS.append(text)
        return Stub("result")
    def __getattr__(self, a):
        return Stub("session." + a)

class StubModule(types.ModuleType):
    def __getattr__(self, a):
        if a.startswith("__"): raise AttributeError(a)
        if a == "Session": return Session
        return Stub(self.__name__ + "." + a)

STUBBED = set()
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        top = name.split(".")[0]
        if top in ("relann",) or top in STUB_TOPS:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None
    def create_module(self, spec):
        m = StubModule(spec.name); m.__path__ = []; return m
    def exec_module(self, m): pass

STUB_TOPS = {"pyHGT", "torch","pandas","numpy","torch_geometric","torch_scatter","sklearn","scipy","sqlalchemy","lark","pydantic","tqdm","matplotlib","IPython","graphviz","relbench","networkx","dgl","rdflib","duckdb","pyarrow","psycopg2","juplit","requests","yaml","pytest","ogb","seaborn","tabulate"}
sys.meta_path.insert(0, Finder())

# ---------- string literals of a script ----------
def lits(path, ns=None, min_len=0):
    """Return list of (lineno, text) for every string literal / f-string in the file
    that looks like a RelaNN program fragment. f-strings evaluated with ns."""
    src = open(os.path.join(SRC, path)).read()
    tree = ast.parse(src)
    out = []
    fstr_children = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for v in node.values:
                fstr_children.add(id(v))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in fstr_children:
            out.append((node.lineno, node.value, False))
        elif isinstance(node, ast.JoinedStr):
            try:
                val = eval(compile(ast.Expression(node), path, "eval"), dict(ns or {}))
            except Exception as e:
                val = "<<EVAL ERROR %r>>" % e
            out.append((node.lineno, val, True))
    out.sort()
    return out

# ---------- the corpus ----------
progs = []  # (name, source, where, notes, text)
def add(name, source, where, text, notes=""):
    progs.append((name, source, where, notes, text))
def join(*parts):
    return "\n".join(p.strip("\n") + "\n" for p in parts)
def L(path, ns=None):
    return {ln: t for ln, t, f in lits(path, ns)}

# ---------- examples (001, 003, 004 captured by running the script with a stubbed Session) ----------
def stubrun(path, subs=()):
    RUNS.clear()
    try:
        runpy.run_path(os.path.join(SRC, path), run_name="__stubmain__")
    except Exception as e:
        pass
    t = join(*RUNS)
    for a, b in subs: t = t.replace(a, b)
    assert "STUB" not in t, t
    return t
add("ex001_gcn_cora", "examples/001_relnn_hello_world.py", "define_program + fit_program + pred_program + eval_program (session.run order)",
    stubrun("examples/001_relnn_hello_world.py"))
add("ex002_era_join", "examples/002_era_join_projection.py", "define_program (only program; no ?fit/?pred)",
    L("examples/002_era_join_projection.py")[33])
add("ex003_hgt_generic_cora", "examples/003_relnn_hgt.py", "all session.run cells + fit_program + pred_program (f-strings: d=16 h=4 dh=4 in_features=1433 n_classes=7)",
    stubrun("examples/003_relnn_hgt.py"))
add("ex004_hygnn", "examples/004_relnn_hygnn.py", "all session.run cells (n_drugs=645, TWOSIDES)",
    stubrun("examples/004_relnn_hygnn.py", [("STUB<relann.datasets.load_hygnn_dataset().dataset_info[]>", "645")]))
# 005 / 006: f-string define + literal fit/pred
F1 = dict(d_driver=42, d_cons=24, d_result=5, d_race=79)
info = {'driver_feature_dim': F1['d_driver'], 'constructor_feature_dim': F1['d_cons'], 'result_feature_dim': F1['d_result']}
l5 = L("examples/005_relnn_relbench_f1.py", {"info": info})
add("ex005_relbench_f1", "examples/005_relnn_relbench_f1.py", "session.run cells at lines 76,93,103,146 (second identical ?pred Predictions at 129 omitted); feature dims are placeholders 42/24/5 (data-dependent)",
    join(l5[76], l5[93], l5[103], l5[146]))
l6 = L("examples/006_relnn_relbench_f1_dnf.py", F1)
add("ex006_relbench_f1_dnf", "examples/006_relnn_relbench_f1_dnf.py", "session.run cells at lines 81,98,108; feature dims placeholders 42/24/5",
    join(l6[81], l6[98], l6[108]))
l7 = L("examples/007_relnn_sql_loading.py")
add("ex007_sql_gcn", "examples/007_relnn_sql_loading.py", "define_program + fit_program + pred_program + eval_program",
    join(l7[227], l7[255], l7[269], l7[284]))
l8 = L("examples/008_relnn_dblp_sqlite.py", dict(HIDDEN=64, dh=32, author_dim=334, paper_dim=4231, n_classes=4, EPOCHS=50, LR=0.005, WEIGHT_DECAY=0.001))
add("ex008_dblp_hgt_sqlite", "examples/008_relnn_dblp_sqlite.py", "RELNN_PROGRAM + FIT_PROGRAM + PRED_PROGRAM (author_dim=334, paper_dim=4231, n_classes=4)",
    join(l8[191], l8[241], l8[248]))

# ---------- .relnn files ----------
for p in ["tests/dhn/dhn_C2_8_templated.relnn", "tests/dhn/dhn_count_C2_8.relnn", "tests/dhn/dhn_full_C2_8.relnn",
          "tests/dhn/dhn_pure_C2K3_5.relnn", "tests/dhn/dhn_pure_C2_C4.relnn", "tests/dhn/dhn_pure_C2_C4_C2.relnn",
          "tests/dhn/dhn_pure_C2_C5.relnn", "research/paper_experiments/dhn/dhn_ghl_csl_c2_4.relnn",
          "research/paper_experiments/dhn/dhn_ghl_csl_c2_10.relnn"]:
    base = os.path.basename(p)[:-6]
    add(base, p, "whole file (verbatim)", open(os.path.join(SRC, p)).read())

# ---------- research ----------
g = runpy.run_path(SRC + "/research/paper_experiments/hepatitis/run_hepatitis_multirun.py", run_name="x")
l = L("research/paper_experiments/hepatitis/run_hepatitis_multirun.py", dict(epochs=200, lr=0.02, weight_decay=0.0))
add("hepatitis", "research/paper_experiments/hepatitis/run_hepatitis_multirun.py",
    "_build_dsl(hidden=64) [HEPATITIS_DSL] + ?fit f-string (epochs=200, lr=0.02, wd=0.0, TUNED_HPARAMS) + ?pred (_train_and_eval_one)",
    join(g["_build_dsl"](64), l[77], l[84]))

g = runpy.run_path(SRC + "/research/paper_experiments/hygnn/run_compare_hygnn.py", run_name="x")
core = g["RELNN_DEFINE_CORE"].format(n_drugs=645)
add("hygnn_compare_mlp", "research/paper_experiments/hygnn/run_compare_hygnn.py",
    "run_relnn_hygnn(decoder='mlp'): RELNN_DEFINE_CORE(n_drugs=645)+RELNN_PAIRSCORE_MLP, RELNN_MATERIALIZE_PRED, RELNN_FIT_DSL_MLP(epochs=500), RELNN_TESTSCORE_MLP, RELNN_PRED_DSL",
    join(core + g["RELNN_PAIRSCORE_MLP"], g["RELNN_MATERIALIZE_PRED"], g["RELNN_FIT_DSL_MLP"].format(epochs=500), g["RELNN_TESTSCORE_MLP"], g["RELNN_PRED_DSL"]))
add("hygnn_compare_dot", "research/paper_experiments/hygnn/run_compare_hygnn.py",
    "run_relnn_hygnn(decoder='dot'): RELNN_DEFINE_CORE(n_drugs=645)+RELNN_PAIRSCORE_DOT+RELNN_PAIRPROB_DOT, RELNN_MATERIALIZE_PRED, RELNN_FIT_DSL_DOT(epochs=500), RELNN_TESTSCORE_DOT, RELNN_PRED_DSL",
    join(core + g["RELNN_PAIRSCORE_DOT"] + g["RELNN_PAIRPROB_DOT"], g["RELNN_MATERIALIZE_PRED"], g["RELNN_FIT_DSL_DOT"].format(epochs=500), g["RELNN_TESTSCORE_DOT"], g["RELNN_PRED_DSL"]))

g = runpy.run_path(SRC + "/research/paper_experiments/relbench/run_relbench_f1_multirun.py", run_name="x")
T = g["TUNED_TASK_HPARAMS"]
for task, short, loss in [("driver-position", "position", "Loss(; MSELoss()(z_score, z_label)) :- Score(driverId; z_score), TrainLabels(driverId; z_label) ."),
                          ("driver-dnf", "dnf", "Loss(; BCEWithLogitsLoss()(z_score, z_label)) :- Score(driverId; z_score), TrainLabels(driverId; z_label) .")]:
    c = T[task]
    fit = f"\n#lang:relnn\n?fit <epochs=50, lr={c['lr']}, weight_decay={c['weight_decay']}>\n{loss}\n"
    add(f"relbench_{short}", "research/paper_experiments/relbench/run_relbench_f1_multirun.py",
        f"_build_dsl(42,24,79,5,hidden={c['hidden']}) (dims placeholders) + ?fit ({task} loss rule, TUNED_TASK_HPARAMS, epochs=50) + ?pred",
        join(g["_build_dsl"](42, 24, 79, 5, c["hidden"]), fit, "#lang:relnn\n?pred Predictions(driverId; z) :- Score(driverId; z) .\n"))

g = runpy.run_path(SRC + "/research/paper_experiments/rgcn/run_compare_entities_rgcn.py", run_name="x")
rfit = "\n#lang:relnn\n?fit <epochs=50, lr=0.01, weight_decay=0.0005>\nLoss(; CrossEntropyLoss()(z_pred, z_true)) :- Logits(n; z_pred), TrainLabels(n; z_true) .\n"
rpred = "#lang:relnn\n?pred P(n; ArgMax()(z)) :- Logits(n; z) .\n"
gen = g["_generate_relnn_rgcn_dsl"]
RG = "research/paper_experiments/rgcn/run_compare_entities_rgcn.py"
add("rgcn_mutag_shared_basis", RG, "_generate_relnn_rgcn_dsl(d0=16, hidden=16, num_classes=2, feature_mode='shared_lookup', num_nodes=23644, use_basis_l1=True, use_basis_l2=True, num_bases=30) [MUTAG paper path] + _train_relnn fit/pred",
    join(gen(16, 16, 2, "shared_lookup", 23644, True, True, 30), rfit, rpred))
add("rgcn_onehot", RG, "_generate_relnn_rgcn_dsl(d0=8285, hidden=16, num_classes=4, 'one_hot', num_nodes=8285, basis False/False, num_bases=30) + fit/pred",
    join(gen(8285, 16, 4, "one_hot", 8285, False, False, 30), rfit, rpred))
add("rgcn_onehot_basis", RG, "_generate_relnn_rgcn_dsl(d0=8285, hidden=16, num_classes=4, 'one_hot', 8285, basis True/True, num_bases=30) + fit/pred",
    join(gen(8285, 16, 4, "one_hot", 8285, True, True, 30), rfit, rpred))
add("rgcn_per_rel_lookup", RG, "_generate_relnn_rgcn_dsl(d0=16, hidden=16, num_classes=4, 'per_relation_lookup', 8285, basis False/False, 30) + fit/pred",
    join(gen(16, 16, 4, "per_relation_lookup", 8285, False, False, 30), rfit, rpred))
add("rgcn_arch_a", RG, "_generate_arch_a_dsl(num_nodes=8285, hidden=16, n_cls=4) [AIFB paper path] + fit/pred",
    join(g["_generate_arch_a_dsl"](8285, 16, 4), rfit, rpred))
add("rgcn_arch_b", RG, "_generate_arch_b_dsl(num_nodes=8285, hidden=16, n_cls=4, num_bases=30) + fit/pred",
    join(g["_generate_arch_b_dsl"](8285, 16, 4, 30), rfit, rpred))

# ---------- tests/slow ----------
CP = "tests/slow/run_compare_cora_pytorch.py"
l = L(CP, dict(d_hgt=6, h_hgt=3, n_classes=7, in_features=1433))
gcn = l[126].format(in_channels=1433, out_channels=7)
add("slow_cora_gcn", CP, "GCN_DSL.format(in_channels=1433, out_channels=7) + ?pred _Init + ?fit + ?pred Predictions (level1_gcn)",
    join(gcn, l[161], l[195], l[208]))
add("slow_cora_hgt_flat", CP, "level2_hgt1 f-strings (d_hgt=6, h_hgt=3): define + _Init + ?fit + ?pred Cls",
    join(l[360], l[380], l[406], l[415]))
add("slow_cora_hgt_layer", CP, "HGT2_DSL (d_hgt=6, h_hgt=3) + level3_hgt2 _Init + ?fit + ?pred Cls",
    join(l[464], l[507], l[535], l[544]))

OH = "tests/slow/run_compare_dblp_original_hgt.py"
info = dict(author_features=334, paper_features=4231, term_features=50, conference_features=1)
ns = dict(hidden=64, num_heads=2, n_classes=4, info=info)
l = L(OH, ns)
fit = l[465]
for k, v in dict(epochs=100, lr=0.005, wd=0.001).items(): pass
lfit = L(OH, dict(ns, epochs=100, lr=0.005, wd=0.001))
add("slow_dblp_hgt_1l", OH, "RELNN_DEFINE_DSL + run_relnn_hgt ?fit (epochs=100, lr=0.005, wd=0.001) + ?pred AuthorPred",
    join(l[238], lfit[465], lfit[473]))
add("slow_dblp_hgt_2l", OH, "RELNN_DEFINE_DSL_2L + run_relnn_hgt ?fit + ?pred",
    join(l[286], lfit[465], lfit[473]))
add("slow_dblp_pyhgt", OH, "RELNN_PYHGT_DEFINE_DSL + run_relnn_pyhgt_hgt ?fit + ?pred",
    join(l[509], lfit[571], lfit[579]))

GH = "tests/slow/run_compare_dblp_hgt_generic.py"
ns = dict(hidden=64, num_heads=2, dh=32, n_classes=4, info=info)
l = L(GH, ns)
lib = l[171]
def1 = l[232] + lib + l[244]
def2 = l[251] + lib + l[263]
fitg = l[270].format(epochs=100, lr=0.005, wd=0.001)
add("slow_dblp_hgt_generic_1l", GH, "RELNN_GENERIC_DEFINE (= f-string + HGT_LIBRARY + f-string) + RELNN_FIT_DSL.format(epochs=100, lr=0.005, wd=0.001) + RELNN_PRED_DSL",
    join(def1, fitg, l[276]))
add("slow_dblp_hgt_generic_2l", GH, "RELNN_GENERIC_DEFINE_2L + RELNN_FIT_DSL + RELNN_PRED_DSL",
    join(def2, fitg, l[276]))
add("slow_dblp_hgt_first_order", GH, "FIRST_ORDER_DEFINE_DSL + FIRST_ORDER_FORWARD_DSL (extra: ?pred only)",
    join(l[398], l[443]))

HO = "tests/slow/test_hygnn_relnn_high_order.py"
l = L(HO, dict(n_drugs=1706, d=128, qd=64, num_layers=1))
cells = [l[k] for k in sorted(l) if ("#lang:relnn" in l[k])]
add("slow_hygnn_high_order", HO, "all session.run cells in order (n_drugs=1706 DrugBank, d=128, qd=64, num_layers=1); each cell dedented",
    join(*[textwrap.dedent(c) for c in cells]))

with open(OUT + "/INDEX.md", "w") as f:
    f.write("# RelaNN program corpus\n\nExtracted from RelaNN " + COMMIT + ". Each `<name>.relnn` is the concatenation, in execution order, of the program pieces a script passes to `Session.run` (define, fit, pred), with f-string/format parameters substituted by the default/paper values listed.\n\n| file | source | function / constant (parameters) |\n|---|---|---|\n")
    for name, source, where, notes, text in progs:
        open(f"{OUT}/{name}.relnn", "w").write(text)
        f.write(f"| {name}.relnn | `{source}` | {where} |\n")
print(len(progs), "programs")
