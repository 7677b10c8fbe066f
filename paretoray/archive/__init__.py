"""The nondominated archive: an append-only log of Arrow segments and a compacted front.

Minimization is assumed. One :class:`Store` writes a run directory (it holds the ``LOCK``);
any number of readers call :func:`open` (a :class:`ParetoSet`) or :func:`verify` (a
:class:`VerifyReport`) without a lock, on a local path or any pyarrow filesystem URI. The
layout, commit protocol and recovery rules are described in :mod:`paretoray.archive.store`
and :mod:`paretoray.archive.reader`; the point schema in :mod:`paretoray.archive.schema`.

Example:
    >>> from paretoray.archive import Store, open, verify  # doctest: +SKIP
    >>> with Store.create("runs/demo", n_obj=2, n_var=3) as store:  # doctest: +SKIP
    ...     store.append(F, preference=R, x=X, round=0, shard=0, member=np.arange(len(F)),
    ...                  algorithm="epo", step=100)
    >>> front = open("runs/demo")  # doctest: +SKIP
    >>> front.hypervolume(), front.to_pandas()  # doctest: +SKIP
    >>> front.select([0.7, 0.3]), front.knee(), front.history()  # doctest: +SKIP
    >>> export("runs/demo", "front.csv", format="csv")  # doctest: +SKIP
"""

from paretoray.archive._warn import ArchiveWarning
from paretoray.archive.export import export
from paretoray.archive.merge import merge_nondominated, nondominated_mask
from paretoray.archive.pareto_set import ParetoPoint, ParetoSet
from paretoray.archive.reader import VerifyReport, open, read_points, segment_paths, verify
from paretoray.archive.schema import SCHEMA_VERSION, point_schema
from paretoray.archive.store import AppendResult, Store

__all__ = [
    "SCHEMA_VERSION",
    "AppendResult",
    "ArchiveWarning",
    "ParetoPoint",
    "ParetoSet",
    "Store",
    "VerifyReport",
    "export",
    "merge_nondominated",
    "nondominated_mask",
    "open",
    "point_schema",
    "read_points",
    "segment_paths",
    "verify",
]
