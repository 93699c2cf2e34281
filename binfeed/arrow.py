"""Arrow, pandas and polars faces of the tables of :mod:`binfeed.tables` (the ``arrow``
extra: ``pip install 'binfeed[arrow]'``).

Columns become Arrow arrays without copies where Arrow's layout is numpy's (integers,
floats, timestamps, dictionary codes); booleans are bit-packed. Each table has one Arrow
schema (:func:`schema`), the same whatever the data, so batches, files and days line up:
``timestamp[ns, tz=UTC]`` times, int64 integers, float64 prices, bool flags,
``dictionary<int32|int8, string>`` for symbols and other names.

pandas gets nullable columns as pandas' nullable dtypes (``boolean``, ``Int64``) rather than
``object`` or ``float64``; names become ``category``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from binfeed import errors
from binfeed.tables import SCHEMAS, Batch, Column

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    import pyarrow as pa

__all__ = ["record_batch", "require", "schema", "to_pandas", "to_polars"]

_EXTRA = "pip install 'binfeed[arrow]'"


def require(module: str) -> Any:
    """Imports pyarrow, pandas or polars, or says which extra brings it.

    Raises:
        MissingExtraError: it is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise errors.MissingExtraError(
            f"{module} is not installed: binfeed's tables need the arrow extra "
            f"({_EXTRA}, which brings pyarrow, pandas and polars)") from exc


def _arrow_type(kind: str, dict_index: str = "int32") -> pa.DataType:
    pa = require("pyarrow")
    return {
        "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
        "timestamp": pa.timestamp("ns", tz="UTC"), "string": pa.string(),
        "category": pa.dictionary(getattr(pa, dict_index)(), pa.string()),
    }[kind]


def schema(table: str) -> pa.Schema:
    """The Arrow schema of a table (``bookTicker``, ``trade``, ...)."""
    pa = require("pyarrow")
    return pa.schema([
        pa.field(name, _arrow_type(kind, "int8" if name == "type" else "int32"), nullable)
        for name, kind, nullable in SCHEMAS[table]])


def _array(col: Column, typ: pa.DataType) -> pa.Array:
    pa = require("pyarrow")
    mask = None if col.valid is None else ~col.valid
    if col.kind == "category":
        codes = pa.array(col.values.astype(typ.index_type.to_pandas_dtype(), copy=False))
        return pa.DictionaryArray.from_arrays(codes, pa.array(col.categories or (),
                                                              pa.string()))
    if col.kind == "timestamp":
        return pa.array(col.values.view(np.int64)).view(typ)
    if col.kind == "string":
        return pa.array(col.values.tolist(), typ)
    return pa.array(col.values, typ, mask=mask)


def record_batch(table: str, batch: Batch) -> pa.RecordBatch:
    """A batch of a table's columns as an Arrow record batch of :func:`schema`."""
    pa = require("pyarrow")
    sch = schema(table)
    return pa.RecordBatch.from_arrays(
        [_array(batch[f.name], f.type) for f in sch], schema=sch)


def empty(table: str) -> pa.Table:
    """A table with no rows, of the table's schema."""
    return schema(table).empty_table()


def concat(table: str, batches: Iterable[pa.RecordBatch]) -> pa.Table:
    """One table of record batches (dictionaries unified: one per column)."""
    pa = require("pyarrow")
    out = pa.Table.from_batches(list(batches), schema=schema(table))
    return out.unify_dictionaries()


def _nullable(table: str) -> list[str]:
    return [name for name, _, nullable in SCHEMAS[table] if nullable]


def to_pandas(table: str, tbl: pa.Table) -> pd.DataFrame:
    """A pandas DataFrame of an Arrow table of :func:`schema`: names as ``category``, times
    as ``datetime64[ns, UTC]``, nullable columns as ``boolean`` / ``Int64``."""
    pd = require("pandas")
    pa = require("pyarrow")
    nullable = _nullable(table)
    df = tbl.drop_columns(nullable).to_pandas(split_blocks=True)  # no consolidation copy
    for name in nullable:
        col = tbl.column(name)
        dtype = pd.BooleanDtype() if pa.types.is_boolean(col.type) else pd.Int64Dtype()
        values = col.to_pandas(types_mapper={col.type: dtype}.get)
        df.insert(tbl.schema.get_field_index(name), name, values)
    return df


def to_polars(tbl: pa.Table) -> pl.DataFrame:
    """A polars DataFrame of an Arrow table: names as ``Categorical``, times as
    ``Datetime("ns", "UTC")``, nulls as nulls."""
    pl = require("polars")
    return pl.from_arrow(tbl, rechunk=False)
