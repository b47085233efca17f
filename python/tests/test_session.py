"""The nrp Python package: sessions over folders and DataFrames, incremental programs,
parameters, errors. Runs on the bundled Cora tables (examples/data/cora) and on small
tables made here."""

import gc
import os
import pathlib
import resource

import numpy as np
import pandas as pd
import pytest

import nrp

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORA = ROOT / "examples" / "data" / "cora"
GCN = (ROOT / "examples" / "gcn-cora.nrp").read_text()


def test_the_bundled_data_is_there():
    # Every Cora test below reads these: a missing file must fail, not skip.
    for t in ["node", "edge", "feature"]:
        assert (CORA / f"{t}.csv").is_file(), f"missing {CORA}/{t}.csv"


def cora_frames():
    return {t: pd.read_csv(CORA / f"{t}.csv") for t in ["node", "edge", "feature"]}


@pytest.fixture(scope="module")
def gcn_folder():
    s = nrp.Session(db=str(CORA), seed=0, threads=2)
    last = s.run(GCN, name="gcn-cora.nrp")
    return s, last


def test_gcn_on_cora_from_a_folder_learns(gcn_folder):
    s, last = gcn_folder
    assert list(s.predictions) == ["Pred", "ValAcc", "TestAcc"]
    # The last ?pred is returned: a zero-ary relation, one row, column e0.
    assert list(last.columns) == ["e0"] and len(last) == 1
    acc = s.value("TestAcc")
    assert acc >= 0.79, acc
    assert float(last["e0"][0]) == pytest.approx(acc)
    pred = s.predictions["Pred"]
    assert list(pred.columns) == ["c0", "e0"]
    assert len(pred) == 2708
    assert pred["c0"].dtype == np.int64 and pred["e0"].dtype == np.float32
    assert set(np.unique(pred["e0"])) <= set(range(7))


def test_history_has_one_row_per_epoch(gcn_folder):
    s, _ = gcn_folder
    h = s.history
    assert list(h.columns) == ["fit", "loss_name", "epoch", "loss", "ValAcc", "TestAcc", "step_ms"]
    assert len(h) == 200
    assert (h["epoch"] == np.arange(1, 201)).all()
    assert (h["fit"] == 0).all() and (h["loss_name"] == "Loss").all()
    assert h["loss"].iloc[-1] < h["loss"].iloc[0] / 2
    assert (h["step_ms"] > 0).all()


def test_dataframes_in_give_what_the_folder_gives(gcn_folder):
    s, _ = gcn_folder
    d = nrp.Session(db=cora_frames(), seed=0, threads=2)
    assert d.tables == ["edge", "feature", "node"]
    d.run(GCN)
    assert d.value("TestAcc") == s.value("TestAcc")
    a, b = d.parameters(), s.parameters()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_same_seed_and_threads_give_the_same_weights():
    prog = GCN.replace("epochs=200", "epochs=20")
    runs = []
    for _ in range(2):
        s = nrp.Session(db=str(CORA), seed=3, threads=2)
        s.run(prog)
        runs.append(s.parameters())
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k])
    other = nrp.Session(db=str(CORA), seed=4, threads=2)
    other.run(prog)
    assert not np.array_equal(other.parameters()["Lin1.weight"], runs[0]["Lin1.weight"])


SMALL = {
    "Edge": pd.DataFrame({"src": [1, 1, 2, 3], "dst": [2, 3, 3, 1]}),
    "Val": pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 10.0, 100.0], "y": [0.5, 0.25, 2.0]}),
    "Name": pd.DataFrame({"id": [1, 2, 3], "name": ["ann", "bob", "cy"]}),
}


def small():
    return nrp.Session(db=dict(SMALL), seed=0, threads=1)


def test_relation_contents_from_dataframes():
    s = small()
    out = s.run("In(v; sum(z)) :- Edge(u, v), Val(u; z) .\n?pred P(n; z) :- In(v; z), Name(v, n) .")
    # In(2) = Val(1); In(3) = Val(1) + Val(2); In(1) = Val(3).
    assert list(out.columns) == ["c0", "e0", "e1"]
    got = {r.c0: (r.e0, r.e1) for r in out.itertuples()}
    assert got == {"ann": (100.0, 2.0), "bob": (1.0, 0.5), "cy": (11.0, 0.75)}
    assert out["c0"].dtype == object


def test_arrays_and_column_mappings_are_tables():
    # The SMALL tables as a 2-D NumPy array (edges) and a mapping of columns (values).
    edges = SMALL["Edge"].to_numpy()
    values = {c: SMALL["Val"][c].to_numpy() for c in SMALL["Val"].columns}
    s = nrp.Session(db={"Edge": edges, "Val": values, "Name": SMALL["Name"]}, seed=0, threads=1)
    out = s.run("?pred P(n; sum(z)) :- Edge(u, v), Val(u; z), Name(v, n) .")
    got = {r.c0: (r.e0, r.e1) for r in out.itertuples()}
    assert got == {"ann": (100.0, 2.0), "bob": (1.0, 0.5), "cy": (11.0, 0.75)}
    with pytest.raises(nrp.NrpError, match="table `Edge`: an array table must be 2-D"):
        s.set_table("Edge", np.arange(6))


def test_sql_grounding_of_a_sqlite_file_gives_the_in_engine_results(tmp_path):
    import sqlite3

    path = tmp_path / "small.sqlite"
    with sqlite3.connect(path) as c:
        for name, df in SMALL.items():
            df.to_sql(name, c, index=False)
    text = "?pred P(n; sum(z)) :- Edge(u, v), Val(u; z), Name(v, n) ."
    results = []
    for ground in [None, "in-engine", "sql"]:
        s = nrp.Session(db=str(path), seed=0, threads=1, ground=ground)
        results.append(s.run(text).sort_values("c0").reset_index(drop=True))
    for r in results[1:]:
        pd.testing.assert_frame_equal(results[0], r)
    assert results[0]["c0"].tolist() == ["ann", "bob", "cy"]
    with pytest.raises(nrp.NrpError, match='ground="sql" needs a SQLite or PostgreSQL database'):
        nrp.Session(db=str(CORA), ground="sql")
    with pytest.raises(nrp.NrpError, match='expected "in-engine" or "sql"'):
        nrp.Session(db=str(path), ground="database")


def test_a_reissued_pred_replaces_the_earlier_one():
    s = small()
    first = s.run("?pred P(v; z) :- Val(v; z) .")
    again = s.run("?pred P(v; z) :- Val(v; z) .")
    pd.testing.assert_frame_equal(first, again)
    # A different body replaces it too, and relation() sees the new rule only.
    s.run("?pred P(v; z * 2) :- Val(v; z) .")
    np.testing.assert_array_equal(s.relation("P")["e0"], 2 * first["e0"])
    # Rules accumulate: a dependent relation defined later reads the current P.
    q = s.run("?pred Q(; sum(z)) :- P(v; z) .")
    assert float(q["e0"][0]) == pytest.approx(2 * 111.0)


def test_an_identical_rule_again_is_not_a_second_branch_but_a_new_rule_is():
    s = small()
    s.run("R(v; z) :- Val(v; z) .")
    s.run("R(v; z) :- Val(v; z) .")
    assert list(s.relation("R")["e0"]) == [1.0, 10.0, 100.0]
    s.run("R(v; z * 0 + 1) :- Val(v; z) .")
    assert list(s.relation("R")["e0"]) == [2.0, 11.0, 101.0]


def test_constants_are_redefined():
    s = small()
    s.run("k = 2 .\n?pred P(v; z * k) :- Val(v; z) .")
    out = s.run("k = 3 .\n?pred P(v; z * k) :- Val(v; z) .")
    assert list(out["e0"]) == [3.0, 30.0, 300.0]


def test_changing_a_table_and_predicting_again():
    s = small()
    s.run("?pred Deg(v; count()) :- Edge(u, v) .")
    more = pd.concat([SMALL["Edge"], pd.DataFrame({"src": [2], "dst": [1]})])
    s.set_table("Edge", more)
    out = s.run("?pred Deg(v; count()) :- Edge(u, v) .")
    assert dict(zip(out["c0"], out["e0"])) == {1: 2.0, 2: 1.0, 3: 2.0}
    # A table added later is usable from then on.
    s.set_table("Extra", pd.DataFrame({"id": [7]}))
    assert list(s.run("?pred E(v) :- Extra(v) .")["c0"]) == [7]


def test_fit_continues_from_the_current_weights():
    s = small()
    s.run("W = Linear(1, 1) .\nOut(v; W([x] / 100)) :- Val(v, x, _) .\nY(v; [y]) :- Val(v, _, y) .")
    fit = "?fit <epochs=30, lr=0.05>\nLoss(; MSELoss()(p, y)) :- Out(v; p), Y(v; y) ."
    s.run(fit)
    s.run(fit)
    h = s.history
    assert list(h["fit"].unique()) == [0, 1]
    first, second = h[h.fit == 0], h[h.fit == 1]
    assert len(first) == len(second) == 30
    # The second fit starts where the first ended, not from the initial weights.
    assert second["loss"].iloc[0] < first["loss"].iloc[0]
    assert second["loss"].iloc[0] == pytest.approx(first["loss"].iloc[-1], rel=0.2)


def test_parameters_round_trip_through_save_and_load(tmp_path):
    s = small()
    s.run("W = Linear(2, 3) .\n?pred P(v; W(z)) :- Val(v; z) .")
    params = s.parameters()
    assert {k: v.shape for k, v in params.items()} == {"W.bias": (3,), "W.weight": (3, 2)}
    path = tmp_path / "w.safetensors"
    s.save(path)
    t = nrp.Session(db=dict(SMALL), seed=99, threads=1)
    t.load(path)
    out = t.run("W = Linear(2, 3) .\n?pred P(v; W(z)) :- Val(v; z) .")
    pd.testing.assert_frame_equal(out, s.relation("P"))
    for k, v in t.parameters().items():
        np.testing.assert_array_equal(v, params[k])
    # set_parameters changes what predictions compute.
    t.set_parameters({"W.weight": np.zeros((3, 2)), "W.bias": np.ones(3)})
    assert (t.relation("P")[["e0", "e1", "e2"]].to_numpy() == 1.0).all()
    with pytest.raises(nrp.NrpError, match=r"`W.weight` has shape \[3, 2\], not \[2, 3\]"):
        t.set_parameters({"W.weight": np.zeros((2, 3))})


def test_errors_raise_with_the_located_message():
    s = small()
    with pytest.raises(nrp.NrpError) as e:
        s.run("P(v; z) :- Val(v; z)\n?pred Q(v; z) :- P(v; z) .")
    assert str(e.value).startswith("<run 1>:2:1: error:")
    s.run("P(v; z) :- Val(v; z) .")
    with pytest.raises(nrp.NrpError) as e:
        s.run("\n?pred Q(v; z) :- Nope(v; z) .", name="cell 2")
    text = str(e.value)
    assert text.startswith("cell 2:2:18: error:") and "Nope" in text, text
    assert "^^^^" in text
    # The failed text changed nothing: the session goes on.
    assert list(s.run("?pred Q(v; z) :- P(v; z) .")["e0"]) == [1.0, 10.0, 100.0]
    with pytest.raises(nrp.NrpError, match="no rule of .* derives `Missing`"):
        s.relation("Missing")


def test_data_errors_name_table_column_and_row():
    bad = pd.DataFrame({"id": [1, 2], "x": [1.0, float("nan")]})
    with pytest.raises(nrp.NrpError, match=r"table `T`, column `x`, row 2"):
        nrp.Session(db={"T": bad})
    when = pd.DataFrame({"t": pd.to_datetime(["2020-01-01"])})
    with pytest.raises(nrp.NrpError, match="dtype datetime64"):
        nrp.Session(db={"T": when})
    with pytest.raises(TypeError):
        nrp.Session(db={"T": [1, 2, 3]})
    s = nrp.Session(db={"T": pd.DataFrame({"id": [1, 1], "x": [1.0, 2.0]})})
    with pytest.raises(nrp.NrpError, match="T"):
        s.run("?pred P(v; z) :- T(v; z) .")


def test_bad_options_and_sources_raise():
    with pytest.raises(nrp.NrpError, match="does not exist"):
        nrp.Session(db=str(ROOT / "no-such-folder"))
    with pytest.raises(nrp.NrpError, match="`threads` must be at least 1"):
        nrp.Session(db=dict(SMALL), threads=0)
    with pytest.raises(nrp.NrpError, match="disabled_rules: unknown rule `nope`"):
        nrp.Session(db=dict(SMALL), disabled_rules="nope")
    with pytest.raises(nrp.NrpError, match="memory_limit"):
        nrp.Session(db=dict(SMALL), memory_limit="lots")


def test_array_embedding_columns_and_check_and_explain():
    emb = pd.DataFrame({"id": [1, 2], "e": [np.array([0.5, 1.5]), [2.0, -1.0]]})
    s = nrp.Session(db={"Emb": emb}, threads=1)
    out = s.run("?pred P(v; z) :- Emb(v; z) .")
    assert out[["e0", "e1"]].to_numpy().tolist() == [[0.5, 1.5], [2.0, -1.0]]
    assert "P" in s.check() and "ok" in s.check()
    assert "tensor plan" in s.explain()


def test_no_leak_across_a_hundred_sessions():
    def once():
        s = small()
        s.run("W = Linear(2, 2) .\n?pred P(v; W(z)) :- Val(v; z) .")
        return s.parameters()

    for _ in range(10):
        once()
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(100):
        once()
    gc.collect()
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 30_000, f"peak memory grew by {grown_kb} kB over 100 sessions"
    assert os.cpu_count() is not None


def test_gcn_from_dataframes_reaches_the_published_accuracy_over_five_seeds():
    frames = cora_frames()
    accs = []
    for seed in range(5):
        s = nrp.Session(db=frames, seed=seed, threads=2)
        s.run(GCN)
        accs.append(s.value("TestAcc"))
    assert np.mean(accs) >= 0.805, accs


def test_ctrl_c_stops_training_after_an_epoch_and_keeps_the_weights():
    import signal
    import threading

    s = small()
    s.run("W = Linear(2, 1) .\nOut(v; W(z)) :- Val(v; z) .\nY(v; [y]) :- Val(v, _, y) .")
    start = s.parameters()["W.weight"].copy()
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.run("?fit <epochs=100000000, lr=0.001>\nLoss(; MSELoss()(p, y)) :- Out(v; p), Y(v; y) .")
    finally:
        timer.cancel()
    h = s.history
    assert 0 < len(h) < 100000000
    assert not np.array_equal(s.parameters()["W.weight"], start)
    # The session goes on after the interruption.
    assert len(s.run("?pred P(v; z) :- Out(v; z) .")) == 3
