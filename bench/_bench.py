"""Helpers shared by the repo's peer scripts (bench/pyg_scale.py, bench/torch_triangles.py):
CSV loading with numpy (as ../shared/bench/_common.py does it: np.loadtxt), timing, the
one-line JSON result. Standard library + numpy only, so loading is timed without torch."""
from __future__ import annotations

import json
import os
import resource
import sys
import warnings

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
SYNTHETIC = os.path.join(BENCH_DIR, "data", "synthetic")


def quiet_warnings() -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def log(msg: str, enabled: bool = True) -> None:
    if enabled:
        print(msg, file=sys.stderr, flush=True)


def read_int_table(path: str, ncols: int) -> np.ndarray:
    arr = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    if arr.shape[1] != ncols:
        raise ValueError(f"{path}: expected {ncols} columns, got {arr.shape[1]}")
    return arr


def read_nodes(path: str):
    """node.csv (id,label,split) with ids 0..n-1 -> (labels int64, splits str array)."""
    arr = np.loadtxt(path, delimiter=",", skiprows=1, dtype=str, ndmin=2)
    ids = arr[:, 0].astype(np.int64)
    if not np.array_equal(ids, np.arange(len(ids))):
        order = np.argsort(ids, kind="stable")
        ids, arr = ids[order], arr[order]
        if not np.array_equal(ids, np.arange(len(ids))):
            raise ValueError(f"{path}: ids are not 0..n-1")
    return arr[:, 1].astype(np.int64), arr[:, 2]


def read_wide_features(path: str, num_rows: int) -> np.ndarray:
    """feature.csv (id,f0..f{d-1}, one row per node) -> float32 [num_rows, d]."""
    arr = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    x = np.zeros((num_rows, arr.shape[1] - 1), dtype=np.float32)
    x[arr[:, 0].astype(np.int64)] = arr[:, 1:]
    return x


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_ms(seconds: list[float]) -> float:
    return float(np.median(np.asarray(seconds))) * 1000.0 if seconds else float("nan")


def set_threads(threads: int | None) -> int:
    import torch
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def versions() -> dict:
    import torch
    out = {"torch": torch.__version__}
    try:
        import torch_geometric
        out["torch_geometric"] = torch_geometric.__version__
    except ImportError:
        pass
    return out


def emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result), flush=True)
    else:
        width = max(len(k) for k in result)
        for k, v in result.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")


def add_common_args(p, default_epochs: int) -> None:
    p.add_argument("--epochs", type=int, default=default_epochs)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON line on stdout (logs go to stderr)")
