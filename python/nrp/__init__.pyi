"""Type stubs of :mod:`nrp` (see ``nrp/__init__.py`` for the documentation)."""

import os
from typing import Any, Mapping, Optional, Union

import numpy as np
import pandas as pd

from ._nrp import NrpError as NrpError

__version__: str

# A table: a pandas DataFrame (or a polars/pyarrow table, through ``to_pandas()``), a 2-D
# NumPy array (columns c0 ..), or a mapping of column names to 1-D arrays.
Table = Union[pd.DataFrame, np.ndarray, Mapping[str, Any], Any]

class Session:
    predictions: dict[str, pd.DataFrame]
    def __init__(
        self,
        db: Union[str, os.PathLike[str], Mapping[str, Table], None] = None,
        seed: int = 0,
        threads: Optional[int] = None,
        *,
        memory_limit: Optional[str] = None,
        template_depth: Optional[int] = None,
        disabled_rules: Optional[str] = None,
        trace: bool = False,
        profile: Optional[int] = None,
        ground: Optional[str] = None,
    ) -> None: ...
    def set_table(self, name: str, df: Table) -> None: ...
    @property
    def tables(self) -> list[str]: ...
    def run(self, program: str, name: Optional[str] = None) -> Optional[pd.DataFrame]: ...
    def relation(self, name: str) -> pd.DataFrame: ...
    def value(self, name: str) -> float: ...
    def parameters(self) -> dict[str, np.ndarray]: ...
    def set_parameters(self, values: Mapping[str, Any]) -> None: ...
    def save(self, path: Union[str, os.PathLike[str]]) -> None: ...
    def load(self, path: Union[str, os.PathLike[str]]) -> None: ...
    @property
    def history(self) -> pd.DataFrame: ...
    def explain(self) -> str: ...
    def check(self) -> str: ...
