"""Export a run's points as flat Parquet or CSV, for tools that do not speak Arrow IPC.

The archive stores objectives, preferences and decision vectors as fixed-size list columns;
CSV cannot hold lists and many tools handle them poorly. The export has one column per
value instead:

=================  ==========================================================
column             from
=================  ==========================================================
point_id ...       ``point_id``, ``round``, ``shard``, ``member``, ``algorithm``
<objective names>  ``objectives``: the run's ``objective_names`` (``f1 .. fm``)
x1 .. xd           ``x`` (runs with decision vectors; empty where not stored)
w1 .. wm           ``preference``
params_ref ...     ``params_ref``, ``step``, ``time``, and any further column
=================  ==========================================================

An objective name that would collide with another column is written ``objective_<name>``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pyarrow as pa

from paretoray.archive.schema import list_to_numpy
from paretoray.errors import ArchiveError

__all__ = ["export", "flat_table"]

Format = Literal["parquet", "csv"]


def flat_table(table: pa.Table, objective_names: list[str]) -> pa.Table:
    """The points of ``table`` (the run's point schema) with one column per value.

    Args:
        table: Points in the run's point schema (a segment, ``front.arrow``, ...).
        objective_names: ``m`` names for the objective columns.

    Returns:
        A table without list columns (see the module docstring for its columns).
    """
    m = table.schema.field("objectives").type.list_size
    if len(objective_names) != m:
        raise ArchiveError(f"Expected {m} objective names; got {objective_names!r}.")
    others = {name for name in table.column_names if name not in ("objectives", "preference",
                                                                   "x")}
    columns: dict[str, pa.Array] = {}
    for name in table.column_names:
        if name == "objectives":
            obj = list_to_numpy(table[name], m)
            for i, label in enumerate(objective_names):
                column = f"objective_{label}" if label in others or label in columns else label
                columns[column] = pa.array(obj[:, i])
        elif name == "preference":
            pref = list_to_numpy(table[name], m)
            columns.update({f"w{i + 1}": pa.array(pref[:, i]) for i in range(m)})
        elif name == "x":
            d = table.schema.field("x").type.list_size
            x = list_to_numpy(table[name], d)  # null rows become NaN, written as nulls
            columns.update({f"x{i + 1}": pa.array(x[:, i], from_pandas=True) for i in range(d)})
        else:
            columns[name] = table[name]
    return pa.table(columns)


def export(
    run_dir: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    format: Format = "parquet",
    which: Literal["front", "all"] = "front",
) -> Path:
    """Write a run's front (or every archived point) as a flat Parquet or CSV file.

    Read-only on the run directory: the front is the one :func:`paretoray.open` returns
    (checksums verified), all points those of :func:`paretoray.archive.read_points`.

    Args:
        run_dir: A local path or a pyarrow filesystem URI.
        path: The file to write (its directory must exist).
        format: ``"parquet"`` or ``"csv"``.
        which: ``"front"`` (the nondominated set) or ``"all"`` (every committed point).

    Returns:
        The path written.

    Raises:
        ArchiveError: For an unknown ``format``/``which``, a missing directory, or a run that
            cannot be read.
    """
    from paretoray.archive.reader import open as open_run
    from paretoray.archive.reader import read_points

    if format not in ("parquet", "csv"):
        raise ArchiveError(f"`format` must be 'parquet' or 'csv'; got {format!r}.")
    if which not in ("front", "all"):
        raise ArchiveError(f"`which` must be 'front' or 'all'; got {which!r}.")
    out = Path(path).expanduser()
    if not out.parent.is_dir():
        raise ArchiveError(f"Cannot export to {out}: the directory {out.parent} does not "
                           "exist; create it or choose another path.")
    front = open_run(run_dir)
    table = front.to_arrow() if which == "front" else read_points(run_dir)
    flat = flat_table(table, front.objective_names)
    if format == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(flat, out)
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(flat, out)
    return out

