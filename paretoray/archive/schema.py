"""The Arrow schema of archived points, and conversions between Arrow and numpy.

One row per point; ``objectives`` hold the values in the run's own directions (``run.json``'s
``directions``: ``"minimize"`` or ``"maximize"`` per objective, all ``"minimize"`` when absent),
so a reader outside paretoray sees what the problem computed. Fronts are kept in
minimization form internally: :func:`objective_signs` gives the sign per objective, and
:func:`front_candidates` the rows that may enter a front with their signed objectives.

==============  ==================================  =========================================
column          type                                meaning
==============  ==================================  =========================================
point_id        int64                               assigned by the store, increasing over the run
round           int32                               coordinator round that offered the point
shard           int32                               worker shard
member          int32                               population member inside the shard
algorithm       string                              weighting that produced it ("epo", ...)
objectives      fixed_size_list<float64>[m]         objective values (finite)
preference      fixed_size_list<float64>[m]         the member's preference vector
x               fixed_size_list<float64>[d], null   decision vector; only when the run has n_var
params_ref      string, null                        checkpoint file of a network's parameters
step            int64                               engine step at which the point was seen
time            timestamp[us, tz=UTC]               when the store received it
violation       float64                             constrained runs only (``n_ieq_constr``
                                                    > 0): pymoo's ``CV``, the sum of positive
                                                    ``g_j(x)``; rows with ``violation > 0`` are
                                                    archived but never enter the front
<metric name>   float64, null                       held-out metrics of networks, one column
                                                    per name in run.json's ``metric_names``
==============  ==================================  =========================================

Runs without ``metric_names`` (every vector run, and runs written before metrics existed)
have no metric columns and read as before.

``time`` is a timezone-aware timestamp rather than float seconds so that pandas, polars and
DuckDB show it as a datetime without a conversion. The schema metadata carries
``paretoray.schema_version``, ``paretoray.m``, ``paretoray.d`` and
``paretoray.objective_names`` (JSON); polars drops schema metadata, so ``run.json`` holds
the same facts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

#: Version of the on-disk layout (run.json, manifest.json and the point schema).
#: 2: segments in ``archive/segments/``, ``(shard, round)`` per manifest entry; 1 still read.
SCHEMA_VERSION = 2

_KEY_VERSION = b"paretoray.schema_version"
_KEY_M = b"paretoray.m"
_KEY_D = b"paretoray.d"
_KEY_NAMES = b"paretoray.objective_names"


def default_objective_names(n_obj: int) -> list[str]:
    """``["f1", ..., "fm"]``, the names used when a run does not give any."""
    return [f"f{i + 1}" for i in range(n_obj)]


#: Columns every run has (``violation``: constrained runs); a metric may not take one of these
#: names.
STANDARD_COLUMNS = ("point_id", "round", "shard", "member", "algorithm", "objectives",
                    "preference", "x", "params_ref", "step", "time", "violation")

#: The words of ``run.json``'s ``directions`` (Optuna's).
DIRECTIONS = ("minimize", "maximize")


def objective_signs(directions: Sequence[str] | None, n_obj: int) -> np.ndarray:
    """The sign per objective that turns values into minimization form.

    Args:
        directions: ``"minimize"``/``"maximize"`` per objective, or None (all minimize).
        n_obj: Number of objectives ``m``.

    Returns:
        An `m`-dim float64 array of ``+1`` (minimize) and ``-1`` (maximize).

    Raises:
        ValueError: ``directions`` does not hold ``m`` of the words in :data:`DIRECTIONS`.
    """
    if directions is None:
        return np.ones(n_obj)
    words = [str(d) for d in directions]
    if len(words) != n_obj or any(w not in DIRECTIONS for w in words):
        raise ValueError(f"`directions` must list {n_obj} of {DIRECTIONS}; got {directions!r}.")
    return np.array([-1.0 if w == "maximize" else 1.0 for w in words])


def front_candidates(table: pa.Table, n_obj: int, sign: np.ndarray | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``table`` that may enter a front, with their objectives to minimize.

    Args:
        table: Points in a run's point schema.
        n_obj: Number of objectives ``m``.
        sign: An `m`-dim array from :func:`objective_signs` (None: all minimize).

    Returns:
        ``(rows, objectives)``: a `c`-dim int64 array of row indices (feasible rows: no
        ``violation`` column, or ``violation <= 0``) and their `c x m`-dim objectives
        times ``sign``.
    """
    obj = list_to_numpy(table["objectives"], n_obj)
    if sign is not None and (sign < 0).any():
        obj = obj * sign
    if "violation" not in table.column_names:
        return np.arange(len(obj)), obj
    violation = np.asarray(table["violation"].to_numpy(zero_copy_only=False), dtype=np.float64)
    rows = np.flatnonzero(violation <= 0)
    return rows, obj[rows]


def check_metric_names(metric_names: Sequence[str] | None) -> list[str]:
    """The metric names as a list, refusing duplicates and names of standard columns."""
    names = [str(n) for n in (metric_names or [])]
    bad = [n for n in names if n in STANDARD_COLUMNS or not n]
    if bad or len(set(names)) != len(names):
        raise ValueError(
            f"`metric_names` must be distinct, non-empty and not one of {STANDARD_COLUMNS}; "
            f"got {names!r}."
        )
    return names


def point_schema(
    n_obj: int, n_var: int | None = None, objective_names: Sequence[str] | None = None,
    metric_names: Sequence[str] | None = None, *, constrained: bool = False,
) -> pa.Schema:
    """The Arrow schema of a run's points (segments and ``front.arrow``).

    Args:
        n_obj: Number of objectives ``m``.
        n_var: Number of decision variables ``d``, or None for runs without ``x``
            (networks, whose points carry ``params_ref``); then the ``x`` column is absent.
        objective_names: ``m`` names stored in the schema metadata (default ``f1..fm``).
        metric_names: Names of held-out metric columns (float64, nullable) appended after
            ``time``; None or empty for none.
        constrained: Whether points carry a ``violation`` column (after ``time``, before
            the metrics): runs of problems with inequality constraints.

    Returns:
        The schema, with paretoray's metadata attached.
    """
    names = list(objective_names) if objective_names is not None else None
    names = names or default_objective_names(n_obj)
    fields = [
        pa.field("point_id", pa.int64(), nullable=False),
        pa.field("round", pa.int32(), nullable=False),
        pa.field("shard", pa.int32(), nullable=False),
        pa.field("member", pa.int32(), nullable=False),
        pa.field("algorithm", pa.string(), nullable=False),
        pa.field("objectives", pa.list_(pa.float64(), n_obj), nullable=False),
        pa.field("preference", pa.list_(pa.float64(), n_obj), nullable=False),
    ]
    if n_var is not None:
        fields.append(pa.field("x", pa.list_(pa.float64(), n_var), nullable=True))
    fields += [
        pa.field("params_ref", pa.string(), nullable=True),
        pa.field("step", pa.int64(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
    if constrained:
        fields.append(pa.field("violation", pa.float64(), nullable=False))
    fields += [pa.field(n, pa.float64(), nullable=True) for n in check_metric_names(metric_names)]
    metadata = {
        _KEY_VERSION: str(SCHEMA_VERSION).encode(),
        _KEY_M: str(n_obj).encode(),
        _KEY_D: b"" if n_var is None else str(n_var).encode(),
        _KEY_NAMES: json.dumps(names).encode(),
    }
    return pa.schema(fields, metadata=metadata)


def schema_problem(schema: pa.Schema, expected: pa.Schema) -> str | None:
    """Why ``schema`` is not the run's point schema, or None when it is.

    Metadata is ignored except ``paretoray.m`` and ``paretoray.d``, which must agree.
    """
    if not schema.remove_metadata().equals(expected.remove_metadata()):
        found = {f.name: f for f in schema}
        diffs = []
        for field in expected:
            other = found.pop(field.name, None)
            if other is None:
                diffs.append(f"missing column {field.name!r}")
            elif not other.equals(field):
                diffs.append(f"column {field.name!r} is {other.type}"
                             f"{'' if other.nullable else ' not null'}, expected {field.type}"
                             f"{'' if field.nullable else ' not null'}")
        diffs += [f"unexpected column {name!r}" for name in found]
        if not diffs:
            diffs.append("columns are in a different order")
        return "schema mismatch: " + "; ".join(diffs)
    meta = schema.metadata or {}
    want = expected.metadata or {}
    for key in (_KEY_M, _KEY_D):
        if key in meta and meta[key] != want.get(key):
            return (f"schema metadata {key.decode()}={meta[key].decode()!r}, "
                    f"expected {want.get(key, b'').decode()!r}")
    return None


def objective_names_of(schema: pa.Schema) -> list[str] | None:
    """The objective names stored in ``schema``'s metadata, or None."""
    raw = (schema.metadata or {}).get(_KEY_NAMES)
    if raw is None:
        return None
    try:
        names = json.loads(raw)
    except ValueError:
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def fixed_list(values: np.ndarray, *, mask: np.ndarray | None = None) -> pa.FixedSizeListArray:
    """A fixed-size list array from a `k x w`-dim float array.

    Args:
        values: A `k x w`-dim array, converted to float64.
        mask: An optional `k`-dim boolean array; True marks a null row.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    w = values.shape[1]
    flat = pa.array(values.reshape(-1), type=pa.float64())
    if mask is None or not mask.any():
        return pa.FixedSizeListArray.from_arrays(flat, w)
    return pa.FixedSizeListArray.from_arrays(flat, w, mask=pa.array(mask, type=pa.bool_()))


def list_to_numpy(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A `k x width`-dim float64 array from a fixed-size list column; null rows become NaN."""
    if isinstance(column, pa.ChunkedArray):
        column = (column.combine_chunks() if column.num_chunks != 1 else column.chunk(0))
    k = len(column)
    if k == 0:
        return np.empty((0, width), dtype=np.float64)
    if column.null_count == 0:
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return np.asarray(flat, dtype=np.float64).reshape(k, width)
    out = np.full((k, width), np.nan)
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if valid.any():
        inner = column.filter(pa.array(valid)).flatten().to_numpy(zero_copy_only=False)
        out[valid] = np.asarray(inner, dtype=np.float64).reshape(-1, width)
    return out
