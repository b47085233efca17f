"""nrp: Neuro-Relational Programs from Python.

A :class:`Session` holds a database (a folder of CSV files, a SQLite file, or pandas
DataFrames), a program given one text at a time, and the current weights::

    import nrp
    s = nrp.Session(db="examples/data/cora", seed=0, threads=2)
    s.run(open("examples/gcn-cora.nrp").read())
    s.history            # one row per epoch: fit, loss, metrics, step_ms
    s.relation("Out")    # a pandas DataFrame: c0.. content, e0.. embedding

Relations come back as DataFrames with the columns of ``nrp query``'s CSV: ``c0 ..
c{k-1}`` for the content (int64, float64 or object) and ``e0 .. e{d-1}`` for the
embedding (float32). Tables go in as DataFrames: every column is content, except that
the atom ``T(x; e)`` binds all columns after the first ``k`` as the embedding (numeric
columns, or one column of lists/arrays), exactly as for a CSV file.

Errors raise :class:`NrpError` with nrp's located message (``<run 2>:1:12: error: …``).
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np
import pandas as pd

from . import _nrp
from ._nrp import NrpError

__all__ = ["Session", "NrpError", "__version__"]
__version__: str = _nrp.__version__

# A table: a DataFrame, a 2-D array, or a mapping of column names to 1-D arrays.
Tables = Mapping[str, Any]


def _array_cell(v: Any) -> str:
    xs = np.asarray(v, dtype=np.float64).ravel()
    return "[" + ", ".join(repr(float(x)) for x in xs) + "]"


def _columns(name: str, df: pd.DataFrame) -> list:
    """A DataFrame as ``[(column, kind, payload)]`` for the extension module. Tables of
    other libraries (polars, pyarrow) are taken through their ``to_pandas()``; a 2-D NumPy
    array (or anything with ``__array__``) is a table of columns ``c0 ..``; a mapping of
    column names to 1-D arrays is a table of those columns."""
    if not isinstance(df, pd.DataFrame):
        if callable(getattr(df, "to_pandas", None)):
            df = df.to_pandas()
        elif isinstance(df, Mapping):
            df = pd.DataFrame({str(k): np.asarray(v) for k, v in df.items()})
        elif hasattr(df, "__array__"):
            a = np.asarray(df)
            if a.ndim != 2:
                raise NrpError(
                    f"table `{name}`: an array table must be 2-D (rows, columns), not {a.ndim}-D"
                )
            df = pd.DataFrame(a, columns=[f"c{i}" for i in range(a.shape[1])])
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"table `{name}`: expected a pandas DataFrame, a 2-D array or a mapping of columns, "
            f"got {type(df).__name__}"
        )
    out = []
    for col in df.columns:
        s = df[col]
        label = str(col)
        kind = s.dtype.kind
        if kind in "iub":
            values = s.to_numpy()
            if kind == "u" and len(values) and values.max() > np.iinfo(np.int64).max:
                raise NrpError(f"table `{name}`, column `{label}`: unsigned values beyond int64")
            out.append((label, "i", np.ascontiguousarray(values, dtype="<i8").tobytes()))
        elif kind == "f":
            out.append((label, "f", np.ascontiguousarray(s.to_numpy(), dtype="<f8").tobytes()))
        elif kind == "O" or kind == "U" or kind == "S" or isinstance(s.dtype, pd.StringDtype):
            cells = []
            for v in s.tolist():
                if isinstance(v, (list, tuple, np.ndarray)):
                    cells.append(_array_cell(v))
                elif isinstance(v, np.integer):
                    cells.append(int(v))
                elif isinstance(v, np.floating):
                    cells.append(float(v))
                elif isinstance(v, bytes):
                    cells.append(v.decode())
                else:
                    cells.append(v)
            out.append((label, "o", cells))
        else:
            raise NrpError(
                f"table `{name}`, column `{label}`: dtype {s.dtype} is not supported "
                "(integers, floats, strings, or lists of numbers)"
            )
    return out


def _frame(rel: dict) -> pd.DataFrame:
    """A relation dict from the extension module as a DataFrame (c0.., e0..)."""
    n, arity, dim = rel["rows"], rel["arity"], rel["dim"]
    data: dict = {}
    for i, (kind, payload) in enumerate(rel["columns"]):
        if kind == "i":
            data[f"c{i}"] = np.frombuffer(payload, dtype="<i8").copy()
        elif kind == "f":
            data[f"c{i}"] = np.frombuffer(payload, dtype="<f8").copy()
        else:
            data[f"c{i}"] = pd.Series(payload, dtype=object)
    if rel["counts"] is not None:
        # A count(...) relation: the exact counts (float32 rounds above 2**24).
        data["e0"] = np.frombuffer(rel["counts"], dtype="<i8").astype(np.float64)
    else:
        emb = np.frombuffer(rel["embeddings"], dtype="<f4").reshape(n, dim)
        for j in range(dim):
            data[f"e{j}"] = emb[:, j].copy()
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    frame.attrs["name"] = rel["name"]
    frame.attrs["arity"] = arity
    frame.attrs["dim"] = dim
    return frame


class Session:
    """A database, a program given text by text, and its current weights.

    ``db`` is a folder of CSV files (table ``T`` is ``T.csv``), a SQLite file, or a
    ``{name: table}`` mapping — a table is a pandas DataFrame, a polars or pyarrow table, a
    2-D NumPy array (columns ``c0 ..``) or a mapping of column names to 1-D arrays — (or
    None, then tables are added with
    :meth:`set_table`). ``seed`` initialises parameters as ``torch.manual_seed`` does and
    seeds dropout; ``threads`` defaults to every core. ``memory_limit`` (``"8G"``),
    ``template_depth``, ``disabled_rules`` (plan rewrites to skip, ``"hoist,sparsify"``),
    ``trace`` and ``profile`` are the command line's options and environment variables;
    ``ground="sql"`` has a SQLite or PostgreSQL database join each rule body over its tables
    (``--ground sql``; the default ``"in-engine"`` joins them in nrp, same results).
    """

    def __init__(
        self,
        db: Union[str, os.PathLike, Tables, None] = None,
        seed: int = 0,
        threads: Optional[int] = None,
        *,
        memory_limit: Optional[str] = None,
        template_depth: Optional[int] = None,
        disabled_rules: Optional[str] = None,
        trace: bool = False,
        profile: Optional[int] = None,
        ground: Optional[str] = None,
    ) -> None:
        spec: Optional[str] = None
        tables: Tables = {}
        if isinstance(db, (str, os.PathLike)):
            spec = os.fspath(db)
        elif isinstance(db, Mapping):
            tables = db
        elif db is not None:
            raise TypeError(
                "db is a folder of CSV files, a SQLite file, or a {name: DataFrame} mapping"
            )
        #: The ``?pred`` relations of the last :meth:`run`, by name.
        self.predictions: dict = {}
        self._s = _nrp.Session(
            spec,
            seed=seed,
            threads=threads,
            memory_limit=memory_limit,
            template_depth=template_depth,
            disabled_rules=disabled_rules,
            trace=trace,
            profile=profile,
            ground=ground,
        )
        for name, df in tables.items():
            self.set_table(name, df)

    def set_table(self, name: str, df: Any) -> None:
        """Adds a table, or replaces the table of that name (a file's too; the file is
        never written). The next ``run`` or ``relation`` grounds on it."""
        self._s.set_table(str(name), _columns(str(name), df))

    @property
    def tables(self) -> list:
        """The table names, sorted."""
        return self._s.table_names()

    def run(self, program: str, name: Optional[str] = None) -> Optional[pd.DataFrame]:
        """Adds the statements of ``program`` and runs its ``?fit`` and ``?pred`` ones in
        order. Returns the last ``?pred``'s relation (None without one); every ``?pred``
        of the text is in :attr:`predictions`. ``name`` is what error messages call the
        text (default ``<run N>``).

        Redefinitions (docs/LANGUAGE.md, "Sessions"): a constant, module or function
        defined again replaces the old definition; a ``?pred`` or ``?fit`` of a head seen
        before replaces the earlier one; an identical rule given again is ignored; other
        rules add union branches. ``?fit`` continues from the current weights. Training
        releases the GIL; Ctrl-C stops after the current epoch, keeps the weights and
        raises ``KeyboardInterrupt``.
        """
        results = self._s.run(program, name)
        self.predictions = {r["name"]: _frame(r) for r in results}
        return self.predictions[results[-1]["name"]] if results else None

    def relation(self, name: str) -> pd.DataFrame:
        """The derived relation ``name`` as the program and the current weights define
        it now, on the current tables: columns ``c0..`` (content) and ``e0..``
        (embedding, float32)."""
        return _frame(self._s.relation(name))

    def value(self, name: str) -> float:
        """The value of a zero-ary, one-dimensional relation (a metric such as ``Acc``)."""
        f = self.relation(name)
        if len(f) != 1 or list(f.columns) != ["e0"]:
            raise NrpError(f"`{name}` is not a zero-ary relation of dimension 1")
        return float(f["e0"].iloc[0])

    def parameters(self) -> dict:
        """The current parameters: ``{name: float32 ndarray}`` with PyTorch's names and
        shapes (``Lin1.weight`` is ``[out, in]``). Copies: changing them changes nothing
        until :meth:`set_parameters`."""
        return {
            n: np.frombuffer(b, dtype="<f4").reshape(shape).copy()
            for n, shape, b in self._s.parameters()
        }

    def set_parameters(self, values: Mapping[str, Any]) -> None:
        """Sets parameters by name (array-likes, converted to float32). A known name must
        keep its shape; unknown names are kept for modules defined later."""
        items = []
        for n, v in values.items():
            a = np.ascontiguousarray(np.asarray(v, dtype=np.float32))
            items.append((str(n), list(a.shape), a.astype("<f4").tobytes()))
        self._s.set_parameters(items)

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes the parameters to a safetensors file (as ``nrp run --save``; PyTorch's
        ``safetensors.torch.load_file`` reads it)."""
        self._s.save(os.fspath(path))

    def load(self, path: Union[str, os.PathLike]) -> None:
        """Reads parameters from a safetensors file (as :meth:`set_parameters`)."""
        self._s.load(os.fspath(path))

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch of every fit: ``fit`` (0-based), ``loss_name``, ``epoch``
        (1-based), ``loss``, one column per metric evaluated (NaN where not evaluated) and
        ``step_ms`` (the training step: forward, backward, optimiser)."""
        rows = []
        for fit, loss_name, epoch, loss, metrics, step_ms in self._s.history():
            row = {"fit": fit, "loss_name": loss_name, "epoch": epoch, "loss": loss}
            row.update(dict(metrics))
            row["step_ms"] = step_ms
            rows.append(row)
        cols = ["fit", "loss_name", "epoch", "loss"]
        frame = pd.DataFrame(rows)
        if frame.empty:
            return pd.DataFrame(columns=cols + ["step_ms"])
        rest = [c for c in frame.columns if c not in cols and c != "step_ms"]
        return frame[cols + rest + ["step_ms"]]

    def explain(self) -> str:
        """The grounding (join orders, measured sizes) and the tensor plan, as
        ``nrp explain`` prints them."""
        return self._s.explain()

    def check(self) -> str:
        """The program as nrp reads it: fragments, relations with dimensions, modules,
        rules and estimated matches, as ``nrp check --db`` prints them."""
        return self._s.check()
