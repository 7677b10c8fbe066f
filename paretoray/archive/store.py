"""``Store``: the one writer of a run directory.

Layout (DESIGN.md, "The run directory")::

    RUN_DIR/
      run.json             format, schema_version, n_obj, n_var, objective_names, created,
                           and the caller's metadata (config, problem, algorithm, ref_point, ...)
      state.json           the coordinator's small resumable state (write_state / read_state)
      LOCK                 {"pid", "host", "since", ...} of the one writer
      archive/
        manifest.json      committed segments (rows, bytes, sha256, point ids, (shard, round))
        front.arrow        the current nondominated set, compacted
        segments/
          seg-000001.arrow Arrow IPC file: the points of one append (one shard's round)
        quarantine/        segments found on disk that the manifest does not list (kept)

Run directories written before schema version 2 hold their segments directly in
``archive/``; they are read and appended to in that layout.

An append (see :meth:`Store.append`) is committed by the manifest replacing the previous one:

1. the segment is serialized in memory, hashed, written to a hidden temp file, fsynced and
   renamed to ``segments/seg-NNNNNN.arrow`` (the directory is fsynced too);
2. when compaction is due, the new front is renamed onto ``front.arrow`` the same way, but
   without fsync: it is a cache that the manifest's checksum validates;
3. ``manifest.json`` is replaced atomically, listing the segment (and the new front's checksum).

The manifest entry records the ``(shard, round)`` the segment commits, in the same atomic
step, so an append of a round already committed (a replayed offer) is answered from the
manifest and writes nothing: exactly once by construction, whatever else was lost.

A crash before step 3 leaves an orphan segment that readers ignore. The next writable open
discards only the write that was in flight (temp files, and a segment numbered exactly the
manifest's next number that does not parse); any other unlisted segment (a manifest restored
from an older backup, say) is moved to ``archive/quarantine/``, never deleted, and can be
re-admitted (``Store.open(..., readmit=True)``). A ``front.arrow`` replaced in step 2
without step 3 no longer matches the manifest's checksum, so it is rebuilt from the
segments. Nothing committed is ever rewritten.

Only local paths (and ``file://`` URIs) can be written, including shared POSIX mounts
(NFS): the pattern needs atomic rename and ``O_EXCL``. Any pyarrow filesystem URI can be read
with :func:`paretoray.archive.open`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa

from paretoray._faults import fault_point
from paretoray.archive._fs import (
    Location,
    atomic_write_bytes,
    atomic_write_json,
    dumps_json,
    fsync_dir,
    is_tmp_name,
    local_path,
    sha256_hex,
)
from paretoray.archive._warn import ArchiveWarning
from paretoray.archive.checkpoints import CHECKPOINT_DIR, collect_garbage
from paretoray.archive.lock import RunLock, release_lock
from paretoray.archive.manifest import (
    ARCHIVE_DIR,
    FRONT_ARROW,
    MANIFEST_JSON,
    MANIFEST_LOG,
    QUARANTINE_DIR,
    RUN_FORMAT,
    RUN_JSON,
    SEGMENT_DIR,
    STATE_JSON,
    FrontEntry,
    Manifest,
    SegmentEntry,
    journal_line,
    segment_name,
)
from paretoray.archive.merge import merge_nondominated, merge_sorted_2d
from paretoray.archive.pareto_set import ParetoSet
from paretoray.archive.reader import (
    VerifyReport,
    read_run_meta,
    report_from_scan,
    scan,
    schema_for,
    table_keys,
    warn_corrupt,
)
from paretoray.archive.schema import (
    SCHEMA_VERSION,
    default_objective_names,
    fixed_list,
    front_candidates,
    list_to_numpy,
    objective_signs,
    schema_problem,
)
from paretoray.errors import ArchiveError, ShapeError

__all__ = ["AppendResult", "FrontArrays", "Store"]

#: Keys of run.json that the store owns; ``meta`` and ``update_meta`` may not change them.
_RESERVED = ("format", "schema_version", "n_obj", "n_var", "created")


@dataclass(frozen=True)
class AppendResult:
    """What one :meth:`Store.append` did.

    Attributes:
        segment: Name of the segment written (``seg-000007.arrow``), or None when every row was
            rejected and nothing was written.
        rows: Number of points written (offered rows minus rejected ones).
        rejected: Rows dropped because an objective was NaN or infinite.
        accepted: How many of the written points entered the front.
        front_size: Size of the front after the merge.
        point_ids: A `rows`-dim int64 array, the ids given to the written points in row order.
        duplicate: True when this ``(shard, round)`` was already committed: nothing was
            written and the other fields describe the earlier append (``front_size`` is the
            size right after it, when the manifest recorded it, else the current size).
    """

    segment: str | None
    rows: int
    rejected: int
    accepted: int
    front_size: int
    point_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    duplicate: bool = False


@dataclass(frozen=True)
class FrontArrays:
    """The front's columns that a coordinator reads every round, kept as numpy arrays
    beside the front table, so that reading them takes no table (:meth:`Store.front_arrays`).

    Attributes:
        minimized: A `n x m`-dim array: the objectives times the run's signs (what the
            merge and every indicator read).
        preference: A `n x m`-dim array of the points' preference vectors.
        point_id: A `n`-dim int64 array.
        shard: A `n`-dim int64 array.
        order: For two objectives, a `n`-dim int64 array: the rows by increasing first
            minimized objective (kept by :meth:`merge`, so that no merge sorts the front);
            None when not known yet or ``m > 2``.
    """

    minimized: np.ndarray
    preference: np.ndarray
    point_id: np.ndarray
    shard: np.ndarray
    order: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.point_id)

    @classmethod
    def candidates(cls, table: pa.Table, n_obj: int,
                   sign: np.ndarray) -> tuple[np.ndarray, FrontArrays]:
        """The rows of ``table`` that may enter a front (:func:`front_candidates`: the
        feasible ones; every row of a front table) and their arrays."""
        rows, minimized = front_candidates(table, n_obj, sign)
        return rows, cls.of(table, minimized, rows)

    @classmethod
    def of(cls, table: pa.Table, minimized: np.ndarray,
           rows: np.ndarray | None = None) -> FrontArrays:
        """The arrays of ``table``'s ``rows`` (every row: None), whose minimized objectives
        are already known (``minimized``, one row per row taken)."""
        pick = slice(None) if rows is None else rows
        return cls(
            minimized=minimized,
            preference=list_to_numpy(table["preference"], minimized.shape[1])[pick],
            point_id=np.asarray(table["point_id"].to_numpy(), dtype=np.int64)[pick],
            shard=np.asarray(table["shard"].to_numpy(), dtype=np.int64)[pick])

    def merge(self, new: FrontArrays) -> tuple[FrontArrays, np.ndarray, np.ndarray]:
        """``new``'s points merged into this front (:func:`merge_nondominated`).

        Returns:
            ``(merged, keep, keep_new)``: the merged front, ``self``'s ``keep`` rows then
            ``new``'s ``keep_new`` rows (two boolean masks).
        """
        order = None
        if self.minimized.shape[1] == 2:  # binary searches in the sorted front
            known = self.order if self.order is not None else np.argsort(
                self.minimized[:, 0], kind="stable")
            keep, keep_new, order = merge_sorted_2d(self.minimized, known, new.minimized)
        else:
            keep, keep_new = merge_nondominated(self.minimized, new.minimized)
        # np.compress: numpy's boolean row indexing of a `n x 2` array is ~15x slower
        merged = (np.concatenate([np.compress(keep, a, axis=0), np.compress(keep_new, b, axis=0)])
                  for a, b in zip((self.minimized, self.preference, self.point_id, self.shard),
                                  (new.minimized, new.preference, new.point_id, new.shard),
                                  strict=True))
        return FrontArrays(*merged, order=order), keep, keep_new


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


def _check_meta(meta: Mapping[str, Any], n_obj: int, *, where: str) -> None:
    bad = [k for k in _RESERVED if k in meta]
    if bad:
        raise ArchiveError(
            f"{where} may not set {bad}: the store owns these run.json keys. Pass n_obj/n_var "
            "to Store.create and put your own values under other keys."
        )
    names = meta.get("objective_names")
    if names is not None and (isinstance(names, str) or len(names) != n_obj):
        raise ArchiveError(f"{where}: `objective_names` must list {n_obj} names; got {names!r}.")
    ref = meta.get("ref_point")
    if ref is not None and np.asarray(ref, dtype=float).shape != (n_obj,):
        raise ArchiveError(f"{where}: `ref_point` must have {n_obj} values; got {ref!r}.")
    try:
        objective_signs(meta.get("directions"), n_obj)
    except ValueError as exc:
        raise ArchiveError(f"{where}: {exc}") from None
    constraints = meta.get("n_ieq_constr", 0)
    if not isinstance(constraints, int) or constraints < 0:
        raise ArchiveError(f"{where}: `n_ieq_constr` must be an integer >= 0; got "
                           f"{constraints!r}.")


def _rows(value: Any, k: int, name: str, dtype: Any) -> np.ndarray:
    """Broadcast a scalar or check a `k`-dim array."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return np.full(k, arr.item(), dtype=dtype)
    if arr.shape != (k,):
        raise ShapeError(f"Expected `{name}` as a scalar or of shape `{k}`; got {arr.shape=}.")
    return arr.astype(dtype, copy=False)


def _strings(value: Any, k: int, name: str, *, nullable: bool) -> list[str | None]:
    if value is None:
        if nullable:
            return [None] * k
        raise ShapeError(f"`{name}` is required.")
    if isinstance(value, str):
        return [value] * k
    values = list(value)
    if len(values) != k:
        raise ShapeError(f"Expected `{name}` as a string or {k} strings; got {len(values)}.")
    return [None if v is None else str(v) for v in values]


def _string_array(value: str | list[str | None] | None, keep: np.ndarray) -> pa.Array:
    """Rows ``keep`` of a string column given as one string, None (every row null) or a
    list already checked by :func:`_strings`."""
    if value is None:
        return pa.nulls(len(keep), pa.string())
    if isinstance(value, str):  # one value for every row: no list of k strings
        return pa.repeat(pa.scalar(value, pa.string()), len(keep))
    return pa.array([value[i] for i in keep], pa.string())


class Store:
    """The single writer of a run directory: appends points and keeps the nondominated front.

    Objectives are stored in the run's ``directions`` and merged minimized (see
    :mod:`~paretoray.archive.schema`). Create with :meth:`create` or :meth:`open`, never
    directly; both take the directory's lock, which :meth:`close` (or leaving a ``with``
    block) releases.
    A Store is not thread-safe: call it from one thread (the coordinator actor's).

    Attributes:
        run_dir: The run directory.
        meta: The content of ``run.json``.
        report: What the opening scan found (corrupt segments, orphans, front state).
        readmitted: Segments appended from the quarantine by ``Store.open(readmit=True)``.
        compact_every: ``front.arrow`` is rewritten every this many appends (1: on every
            append) and always on :meth:`close`, so it is fresh after a clean close.

    Example:
        >>> with Store.create(tmp / "run", n_obj=2, n_var=3) as store:  # doctest: +SKIP
        ...     store.append(F, preference=prefs, x=X, round=0, shard=0, member=np.arange(8),
        ...                  algorithm="epo", step=100)
    """

    run_dir: Path
    meta: dict[str, Any]
    report: VerifyReport
    compact_every: int
    _lock: RunLock
    _closed: bool
    _archive: Path
    _appends_since_compaction: int
    _finalizer: weakref.finalize
    _schema: pa.Schema
    _manifest: Manifest
    _front_rows: _LazyFront
    _front_cols: FrontArrays
    _excluded: tuple[str, ...]
    _committed: dict[tuple[int, int], SegmentEntry]
    readmitted: list[str]

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("Use Store.create(run_dir, n_obj=...) or Store.open(run_dir).")

    # ------------------------------------------------------------------ opening
    @classmethod
    def _new(cls, run_dir: Path, lock: RunLock, compact_every: int) -> Store:
        self = object.__new__(cls)
        self.run_dir = run_dir
        self._lock = lock
        self._closed = False
        self._archive = run_dir / ARCHIVE_DIR
        self._appends_since_compaction = 0
        self._number: int | None = None  # the next segment number, once counted
        self._journal_fd: int | None = None  # archive/manifest.log, open for appends
        self.readmitted = []
        if compact_every < 1:
            raise ArchiveError(f"`compact_every` must be >= 1; got {compact_every}.")
        self.compact_every = compact_every
        assert lock.info is not None
        self._finalizer = weakref.finalize(self, release_lock, lock.path, lock.info.token)
        return self

    @classmethod
    def create(
        cls,
        run_dir: str | os.PathLike[str],
        *,
        n_obj: int,
        n_var: int | None = None,
        meta: Mapping[str, Any] | None = None,
        compact_every: int = 1,
    ) -> Store:
        """Create a run directory and take its lock.

        Args:
            run_dir: A local path (or ``file://`` URI); created if missing.
            n_obj: Number of objectives ``m`` (>= 2).
            n_var: Number of decision variables ``d`` for vector problems, or None when points
                carry ``params_ref`` (networks) instead of ``x``.
            meta: Merged into ``run.json``: ``config``, ``problem``, ``algorithm``,
                ``objective_names`` (``m`` names, default ``f1..fm``), ``ref_point``, ...
            compact_every: Rewrite ``front.arrow`` every this many appends (and on close).

        Returns:
            The open, writable store.

        Raises:
            ArchiveError: When ``run_dir`` already holds a run (use :meth:`open`).
            LockError: When another writer holds the directory.
        """
        path = local_path(run_dir, action="create")
        if not isinstance(n_obj, int) or n_obj < 2:
            raise ArchiveError(f"`n_obj` must be an integer >= 2; got {n_obj!r}.")
        if n_var is not None and (not isinstance(n_var, int) or n_var < 1):
            raise ArchiveError(f"`n_var` must be a positive integer or None; got {n_var!r}.")
        meta = dict(meta or {})
        _check_meta(meta, n_obj, where="Store.create(meta=...)")
        if (path / RUN_JSON).exists():
            raise ArchiveError(
                f"{path} already holds a run ({RUN_JSON} exists). Use `Store.open({str(path)!r})` "
                "to append to it, or choose a new run directory."
            )
        if path.exists() and not path.is_dir():
            raise ArchiveError(f"run_dir {path} is a file, not a directory; choose a new "
                               "directory for the run (it is created if missing).")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"Cannot create the run directory {path}: {exc.strerror} "
                               f"({exc.filename}). Choose a writable location.") from None
        lock = RunLock(path)
        lock.acquire()
        try:
            if (path / RUN_JSON).exists():  # created by a racing process before our lock
                raise ArchiveError(f"{path} already holds a run; use `Store.open`.")
            store = cls._new(path, lock, compact_every)
            (path / ARCHIVE_DIR / SEGMENT_DIR).mkdir(parents=True, exist_ok=True)
            run = {
                "format": RUN_FORMAT,
                "schema_version": SCHEMA_VERSION,
                "n_obj": n_obj,
                "n_var": n_var,
                "objective_names": list(meta.pop("objective_names", None)
                                        or default_objective_names(n_obj)),
                "created": _iso(_now()),
                **meta,
            }
            dumps_json(run)  # fail on non-JSON metadata before writing anything
            atomic_write_bytes(path / ARCHIVE_DIR / MANIFEST_JSON, Manifest().to_json())
            atomic_write_json(path / RUN_JSON, run)
            store._load(read_run_meta(Location(path)), Manifest(), None)
            store._write_front_and_manifest()
        except BaseException:
            lock.release()
            raise
        return store

    @classmethod
    def open(
        cls, run_dir: str | os.PathLike[str], *, compact_every: int = 1, readmit: bool = False
    ) -> Store:
        """Open an existing run for appending: take the lock, recover, load the front.

        Recovery never deletes a segment that could hold committed-quality data. It discards
        only the write that was in flight when a writer stopped: temp files, and a segment
        file numbered exactly the manifest's next number whose content does not parse as the
        run's Arrow schema. Every other ``seg-*.arrow`` the manifest does not list (e.g. when
        ``manifest.json`` was restored from an older backup) is moved to
        ``archive/quarantine/`` with a warning naming it. Corrupt committed segments are
        skipped with a warning naming each (they stay in the manifest so a restored file is
        picked up again), and ``front.arrow`` is rebuilt when it is missing or stale.
        :attr:`report` holds what was found.

        Args:
            run_dir: A local path (or ``file://`` URI) holding ``run.json``.
            compact_every: Rewrite ``front.arrow`` every this many appends (and on close).
            readmit: Re-admit the quarantined segments: each one whose Arrow schema is the
                run's and whose ``(shard, round)`` pairs are not committed yet is appended
                with a fresh entry and fresh point ids, then removed from the quarantine;
                the others stay there, named in a warning. :attr:`readmitted` lists them.

        Raises:
            ArchiveError: When there is no run there, or it cannot be read.
            LockError: When another writer holds the directory.
        """
        path = local_path(run_dir, action="open for writing")
        if path.exists() and not path.is_dir():
            raise ArchiveError(f"{path} is a file, not a run directory; pass the directory "
                               "that holds run.json.")
        if not (path / RUN_JSON).exists():
            raise ArchiveError(
                f"{path} holds no run ({RUN_JSON} is missing). Create one with "
                f"`Store.create({str(path)!r}, n_obj=...)`, or check the path."
            )
        lock = RunLock(path)
        lock.acquire()
        try:
            store = cls._new(path, lock, compact_every)
            result = scan(Location(path), checksums=True)
            store.report = report_from_scan(str(path), result)
            warn_corrupt(store.report)
            (path / result.manifest.segment_folder).mkdir(parents=True, exist_ok=True)
            store._recover(result.orphans, result.manifest, result.schema)
            store._load(result.meta, result.manifest, result)
            if not result.front_fresh:
                store._write_front_and_manifest()
            store.readmitted = store._readmit() if readmit else []
        except BaseException:
            lock.release()
            raise
        return store

    def _recover(self, orphans: list[str], manifest: Manifest, schema: pa.Schema) -> None:
        """Discard the write in flight; quarantine every other unlisted segment."""
        in_flight = manifest.segment_rel(segment_name(manifest.next_segment_number))
        discarded, kept = [], []
        for rel in orphans:
            path = self.run_dir / rel
            if is_tmp_name(path.name) or (rel == in_flight and not _parses(path, schema)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                discarded.append(rel)
            else:
                kept.append(_quarantine(path, self._archive / QUARANTINE_DIR))
        if discarded:
            warnings.warn(
                f"Discarded the write in flight in {self.run_dir}, left by a writer that "
                f"stopped mid-append: {', '.join(discarded)}. Its points were never committed "
                "(at most the round in flight is lost; it is offered again on resume).",
                ArchiveWarning,
                stacklevel=3,
            )
        if kept:
            warnings.warn(
                f"Quarantined {len(kept)} segment file(s) of {self.run_dir} that the manifest "
                f"does not list (kept, not deleted): {', '.join(kept)}. They are not in the "
                "front. If the manifest was restored from an older backup, re-admit them with "
                f"`paretoray verify --readmit {self.run_dir}` or "
                "`Store.open(run_dir, readmit=True)`.",
                ArchiveWarning,
                stacklevel=3,
            )

    def _readmit(self) -> list[str]:
        """Append the quarantined segments that fit the run; returns the new segment names."""
        folder = self._archive / QUARANTINE_DIR
        names = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        added, refused = [], []
        for name in names:
            path = folder / name
            try:
                table = pa.ipc.open_file(pa.py_buffer(path.read_bytes())).read_all()
            except (pa.ArrowInvalid, OSError) as exc:
                refused.append(f"{name} (not a readable Arrow IPC file: {exc})")
                continue
            problem = schema_problem(table.schema, self._schema)
            keys = table_keys(table) if problem is None else []
            again = [k for k in keys if k in self._committed]
            if problem is not None:
                refused.append(f"{name} ({problem})")
            elif again:
                refused.append(f"{name} (shard {again[0][0]} round {again[0][1]} is already "
                               f"committed by {self._committed[again[0]].name})")
            else:
                obj = np.stack(table["objectives"].to_numpy(zero_copy_only=False))
                if not np.isfinite(obj).all():
                    refused.append(f"{name} (holds non-finite objectives)")
                    continue
                key = keys[0] if len(keys) == 1 else None
                result = self._write_many([_Pending(
                    table.replace_schema_metadata(self._schema.metadata), key, 0)])[0]
                path.unlink()
                added.append(result.segment)
        if refused:
            warnings.warn(
                f"Left {len(refused)} quarantined file(s) of {self.run_dir} in "
                f"{folder}: {'; '.join(refused)}.",
                ArchiveWarning,
                stacklevel=3,
            )
        return [a for a in added if a is not None]

    def _load(self, meta: dict[str, Any], manifest: Manifest, result: Any) -> None:
        self.meta = meta
        self._schema = schema_for(meta)
        # objectives are stored in the run's directions; fronts are merged minimized
        self._sign = objective_signs(meta.get("directions"), meta["n_obj"])
        self._constrained = bool(meta.get("n_ieq_constr"))
        self._manifest = manifest
        # O(1) replay check. Entries of older manifests carry no (shard, round); the scan
        # read them from the segment's rows (one pair: that round; several: none).
        keys = {} if result is None else result.keys
        self._committed = {}
        for entry in manifest.segments:
            pairs = keys.get(entry.name, [])
            key = entry.key or (pairs[0] if len(pairs) == 1 else None)
            if key is not None:
                self._committed.setdefault(key, entry)
        if result is None:
            self._front_rows = _LazyFront([self._schema.empty_table()])
            _, self._front_cols = FrontArrays.candidates(self._schema.empty_table(),
                                                         meta["n_obj"], self._sign)
            self._excluded = ()
            if not hasattr(self, "report"):
                self.report = VerifyReport(str(self.run_dir), True, [], 0)
        else:
            self._front_rows = _LazyFront([result.front])
            # the scan merged the front minimized already: its objectives are not redone
            self._front_cols = FrontArrays.of(result.front, result.front_obj)
            self._excluded = tuple(s.name for s in manifest.segments if s.name in result.problems)

    # ------------------------------------------------------------------ properties
    @property
    def n_obj(self) -> int:
        """Number of objectives ``m``."""
        return int(self.meta["n_obj"])

    @property
    def n_var(self) -> int | None:
        """Number of decision variables ``d``, or None when points carry ``params_ref``."""
        return self.meta.get("n_var")

    @property
    def segments(self) -> list[str]:
        """Names of the committed segments, in commit order (corrupt ones included)."""
        return [s.name for s in self._manifest.segments]

    @property
    def n_rounds(self) -> int:
        """One more than the largest ``round`` committed (0 for an empty run).

        A resumed coordinator starts its next round here.
        """
        return max((s.max_round + 1 for s in self._manifest.segments), default=0)

    def committed_rounds(self) -> dict[tuple[int, int], SegmentEntry]:
        """Every committed ``(shard, round)`` and the manifest entry of its segment.

        Built from the manifest when the store opens (older manifests: from the segments'
        rows) and kept current by :meth:`append`; the coordinator's source of truth for
        what was already committed, whatever happened to ``state.json``.

        Returns:
            A new dict ``{(shard, round): SegmentEntry}``.
        """
        return dict(self._committed)

    def last_round(self) -> int:
        """The largest ``round`` in the manifest, or -1 for a run without segments.

        Round numbering of a resumed run continues from here, so it survives a lost
        ``state.json``.
        """
        return max((s.max_round for s in self._manifest.segments), default=-1)

    @property
    def next_point_id(self) -> int:
        """The id the next appended (finite) point will get."""
        return self._manifest.next_point_id

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def front_arrays(self) -> FrontArrays:
        """The front's minimized objectives, preferences, ids and shards, without taking
        its table (O(1): they are kept beside it by every commit)."""
        return self._front_cols

    def front(self) -> ParetoSet:
        """The current nondominated set (in memory, includes every committed append)."""
        return ParetoSet(self._front_rows.table(), meta=self.meta, run_dir=str(self.run_dir))

    def front_rows(self, rows: np.ndarray) -> ParetoSet:
        """Rows ``rows`` of the front (the order of :meth:`front_arrays`), without taking
        the whole front table: O(len(rows)) instead of O(front)."""
        return ParetoSet(self._front_rows.take(np.asarray(rows, dtype=np.int64)),
                         meta=self.meta, run_dir=str(self.run_dir))

    # ------------------------------------------------------------------ writing
    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError(
                f"The store of {self.run_dir} is closed. Reopen it with "
                f"`Store.open({str(self.run_dir)!r})`."
            )

    def append(
        self,
        objectives: np.ndarray,
        **fields: Any,
    ) -> AppendResult:
        """Write one segment of points and merge them into the front, once per round.

        See :meth:`_prepare` for the arguments (``preference``, ``x``, ``params_ref``,
        ``round``, ``shard``, ``member``, ``algorithm``, ``step``, ``time``, ``params``,
        ``metrics``); :meth:`append_many` commits several appends with one sync.
        """
        return self.append_many([{"objectives": objectives, **fields}])[0]

    def append_many(self, requests: Sequence[Mapping[str, Any]]) -> list[AppendResult]:
        """Commit several appends (one segment each) together: a group commit.

        The segments are written and fsynced in parallel, their directory is fsynced once,
        and one journal write (or manifest, when compaction is due) commits them all: the
        cost of durability is paid once per group, not once per append -- what lets one
        coordinator keep up with tens of shards whose offers arrive together. Each request
        holds :meth:`append`'s keyword arguments (``objectives`` included). Appends that
        carry network ``params`` are committed one by one (their checkpoints depend on the
        front each one sees).

        Returns:
            One :class:`AppendResult` per request, in order.
        """
        self._check_open()
        if any(r.get("params") is not None for r in requests):
            out = []
            for r in requests:
                pending = self._prepare(**r)
                out.append(pending if isinstance(pending, AppendResult)
                           else self._write_many([pending])[0])
            return out
        results: list[AppendResult | None] = [None] * len(requests)
        pending: list[tuple[int, _Pending]] = []
        seen: dict[tuple[int, int], int] = {}
        for i, r in enumerate(requests):
            prepared = self._prepare(**r)
            if isinstance(prepared, AppendResult):
                results[i] = prepared
            elif prepared.key is not None and prepared.key in seen:
                results[i] = -1 - seen[prepared.key]  # type: ignore[assignment]
            else:
                if prepared.key is not None:
                    seen[prepared.key] = i
                pending.append((i, prepared))
        for (i, _), result in zip(pending, self._write_many([p for _, p in pending]),
                                  strict=True):
            results[i] = result
        for i, r in enumerate(results):  # a key twice in one group: the first one counts
            if isinstance(r, int):
                first = results[-1 - r]
                assert first is not None
                results[i] = dataclasses.replace(first, duplicate=True)
        return [r for r in results if r is not None]

    def _prepare(
        self,
        objectives: np.ndarray,
        *,
        preference: np.ndarray,
        x: np.ndarray | None = None,
        params_ref: str | Sequence[str | None] | None = None,
        round: int | np.ndarray,
        shard: int | np.ndarray,
        member: int | np.ndarray,
        algorithm: str | Sequence[str],
        step: int | np.ndarray,
        time: datetime | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        violation: np.ndarray | None = None,
    ) -> AppendResult | _Pending:
        """Check one append and build its segment table (nothing is written but checkpoints).

        Rows whose objectives are not all finite are dropped and counted. Point ids are
        assigned in row order to the kept rows, starting at :attr:`next_point_id`. The
        caller's arrays are never modified.

        When ``shard`` and ``round`` are single values (scalars, or arrays holding one
        value), the manifest entry records that ``(shard, round)`` in the same atomic commit
        as the segment. Appending a pair that is already committed writes nothing and
        returns the earlier append's result with ``duplicate=True`` (a replayed offer is a
        no-op). Such a round is recorded even when every row is rejected (a 0-row segment),
        so :func:`~paretoray.archive.verify` can tell a round that went missing from an
        empty one.

        Args:
            objectives: A `k x m`-dim array of objective values (an `m`-dim one is one point),
                in the run's ``directions`` (as the problem computes them).
            preference: A `k x m`-dim array, or an `m`-dim one shared by all rows.
            x: A `k x d`-dim array of decision vectors (runs created with ``n_var``), or None.
            params_ref: A checkpoint file name per row (or one for all), or None.
            round: The coordinator round (scalar or `k`-dim), >= 0.
            shard: The worker shard (scalar or `k`-dim), >= 0.
            member: The population member (scalar or `k`-dim).
            algorithm: The weighting's name (one string or `k` strings).
            step: The engine step (scalar or `k`-dim).
            time: When the points were produced (default: now), stored as UTC.
            params: Networks: parameter/buffer names to `k x ...`-dim arrays (or tensors).
                The rows that enter the front get a safetensors checkpoint, written durably
                before the segment and manifest, and their ``params_ref``; the others get a
                null one (see :mod:`paretoray.archive.checkpoints`).
            metrics: Networks: held-out metric names (run.json's ``metric_names``) to
                `k`-dim arrays, stored as columns.
            violation: Constrained runs (``n_ieq_constr > 0`` in ``run.json``): a `k`-dim
                array of constraint violations (>= 0; pymoo's ``CV``). Rows with a positive
                violation are archived but never enter the front.

        Returns:
            An :class:`AppendResult`.
        """
        self._check_open()
        key = _single_key(shard, round)
        if key is not None and key in self._committed:
            return self._earlier(self._committed[key])
        m, d = self.n_obj, self.n_var
        obj = np.asarray(objectives, dtype=np.float64)
        if obj.ndim == 1:
            obj = obj[None, :]
        if obj.ndim != 2 or obj.shape[1] != m:
            raise ShapeError(f"Expected `objectives` of shape `k x {m}`; got {obj.shape=}.")
        k = obj.shape[0]
        pref = np.asarray(preference, dtype=np.float64)
        if pref.ndim == 1 and pref.shape == (m,):
            pref = np.broadcast_to(pref, (k, m))
        if pref.shape != (k, m):
            raise ShapeError(f"Expected `preference` of shape `{k} x {m}` or `{m}`; got "
                             f"{pref.shape=}.")
        x_arr = None
        if x is not None:
            if d is None:
                raise ShapeError(
                    "This run stores no decision vectors (created without `n_var`); pass "
                    "`params_ref` instead of `x`, or create the run with `n_var=d`."
                )
            x_arr = np.asarray(x, dtype=np.float64)
            if x_arr.ndim == 1 and k == 1:
                x_arr = x_arr[None, :]
            if x_arr.shape != (k, d):
                raise ShapeError(f"Expected `x` of shape `{k} x {d}`; got {x_arr.shape=}.")
        columns = {
            "round": _rows(round, k, "round", np.int32),
            "shard": _rows(shard, k, "shard", np.int32),
            "member": _rows(member, k, "member", np.int32),
            "step": _rows(step, k, "step", np.int64),
        }
        cv = self._violation(violation, k)
        # one string (or None) stays one: a list of k strings per offer cost ~0.1 ms each
        algorithms = (algorithm if isinstance(algorithm, str)
                      else _strings(algorithm, k, "algorithm", nullable=False))
        refs = (params_ref if params_ref is None or isinstance(params_ref, str)
                else _strings(params_ref, k, "params_ref", nullable=True))

        finite = np.isfinite(obj).all(axis=1)
        rows = int(finite.sum())
        rejected = k - rows
        if rows == 0 and key is None:
            return AppendResult(None, 0, rejected, 0, len(self._front_cols))
        keep = np.flatnonzero(finite)
        ids = np.zeros(rows, dtype=np.int64)  # assigned by _write
        stamp = (time or _now()).astimezone(UTC)
        arrays: dict[str, pa.Array] = {
            "point_id": pa.array(ids),
            "round": pa.array(columns["round"][keep]),
            "shard": pa.array(columns["shard"][keep]),
            "member": pa.array(columns["member"][keep]),
            "algorithm": _string_array(algorithms, keep),
            "objectives": fixed_list(obj[keep]),
            "preference": fixed_list(pref[keep]),
        }
        if d is not None:
            arrays["x"] = (pa.nulls(rows, self._schema.field("x").type) if x_arr is None
                           else fixed_list(x_arr[keep]))
        arrays["params_ref"] = _string_array(refs, keep)
        arrays["step"] = pa.array(columns["step"][keep])
        arrays["time"] = pa.repeat(pa.scalar(stamp, self._schema.field("time").type), rows)
        if cv is not None:
            arrays["violation"] = pa.array(cv[keep])
        if params is not None or metrics is not None or self.meta.get("metric_names"):
            self._network_columns(arrays, obj[keep], keep, params, metrics, k,
                                  None if cv is None else cv[keep])
        table = pa.Table.from_pydict(arrays, schema=self._schema)
        return _Pending(table, key, rejected)

    def _violation(self, violation: Any, k: int) -> np.ndarray | None:
        """The `k` violations of a constrained run (0 when not given), None otherwise."""
        if not self._constrained:
            if violation is not None:
                raise ShapeError(
                    "This run has no constraints (run.json's n_ieq_constr is 0): pass no "
                    "`violation`, or create the run with meta={'n_ieq_constr': ...}.")
            return None
        if violation is None:
            raise ShapeError("This run is constrained (run.json's n_ieq_constr > 0): pass "
                             "`violation`, a `k`-dim array of constraint violations (0 where "
                             "feasible).")
        cv = _rows(violation, k, "violation", np.float64)
        if not np.all(cv >= 0):  # NaN too
            raise ShapeError(f"`violation` must be >= 0 (pymoo's CV); got {cv[~(cv >= 0)][:3]}.")
        return cv

    def _network_columns(self, arrays: dict[str, pa.Array], obj: np.ndarray, keep: np.ndarray,
                         params: Mapping[str, Any] | None, metrics: Mapping[str, Any] | None,
                         k: int, cv: np.ndarray | None = None) -> None:
        """Metric columns, and checkpoints (written now, durably) of rows entering the front."""
        from paretoray.archive.checkpoints import write_checkpoints

        names = list(self.meta.get("metric_names") or [])
        given = dict(metrics or {})
        if set(given) - set(names):
            raise ShapeError(
                f"Metrics {sorted(set(given) - set(names))} are not among this run's "
                f"metric_names {names}: create the run with meta={{'metric_names': [...]}}."
            )
        for name in names:
            arrays[name] = (pa.nulls(len(keep), pa.float64()) if name not in given
                            else pa.array(_rows(given[name], k, name, np.float64)[keep]))
        if params is None:
            return
        # what _write's merge will keep
        feasible = np.arange(len(obj)) if cv is None else np.flatnonzero(cv <= 0)
        _, enters = merge_nondominated(self._front_cols.minimized, obj[feasible] * self._sign)
        rows = feasible[enters]
        ids = self._manifest.next_point_id + rows
        written = write_checkpoints(self.run_dir, ids, params, keep[rows])
        refs: list[str | None] = [None] * len(keep)
        for row, ref in zip(rows, written, strict=True):
            refs[row] = ref
        arrays["params_ref"] = pa.array(refs, pa.string())

    def _earlier(self, entry: SegmentEntry) -> AppendResult:
        """The result of the append that committed ``entry``, marked as a duplicate."""
        ids = np.arange(entry.first_point_id, entry.last_point_id + 1, dtype=np.int64)
        front_size = len(self._front_cols) if entry.front_size is None else entry.front_size
        return AppendResult(entry.name, entry.rows, entry.rejected, entry.accepted or 0,
                            front_size, ids, duplicate=True)

    def _write_many(self, pending: Sequence[_Pending]) -> list[AppendResult]:
        """Give the tables fresh point ids, write them as the next segments, commit once."""
        if not pending:
            return []
        first_id = self._manifest.next_point_id
        number = self._next_number()
        jobs = []
        for p in pending:
            rows = p.table.num_rows
            ids = np.arange(first_id, first_id + rows, dtype=np.int64)
            table = p.table.set_column(p.table.schema.get_field_index("point_id"),
                                       self._schema.field("point_id"), pa.array(ids))
            name = segment_name(number)
            jobs.append((p, table, ids, name, _serialize(table)))
            first_id += rows
            number += 1
        paths = [self.run_dir / self._manifest.segment_rel(name) for _, _, _, name, _ in jobs]
        names = jobs[0][3] if len(jobs) == 1 else f"{jobs[0][3]}..{jobs[-1][3]}"
        with self._disk_errors(f"segment {names}"):
            _write_all([(path, job[4]) for path, job in zip(paths, jobs, strict=True)])
            fsync_dir(paths[0].parent)
        fault_point("after_segments")
        # The group's points are merged one append after the other (each append's
        # accepted count and front size are what a lone append would report), on numpy
        # only; the front table is taken from its tables when it is next read.
        cols = self._front_cols
        parts, source = self._front_rows.parts, self._front_rows.source()
        offset = sum(t.num_rows for t in parts)  # source: rows of [*parts, *tables]
        entries, results = [], []
        for p, table, ids, name, data in jobs:
            rows = table.num_rows
            candidates, new = FrontArrays.candidates(table, self.n_obj, self._sign)
            cols, keep_front, keep_new = cols.merge(new)
            accepted = int(keep_new.sum())
            source = np.concatenate([source[keep_front], offset + candidates[keep_new]])
            offset += rows
            rounds = np.asarray(table["round"].to_numpy(), dtype=np.int64)
            no_rows = p.key[1] if p.key is not None else 0
            entries.append(SegmentEntry(
                name=name,
                rows=rows,
                bytes=len(data),
                sha256=sha256_hex(data),
                first_point_id=int(ids[0]) if rows else int(first_id),
                last_point_id=int(ids[-1]) if rows else int(first_id) - 1,
                min_round=int(rounds.min()) if rows else no_rows,
                max_round=int(rounds.max()) if rows else no_rows,
                created=_iso(_now()),
                shard=None if p.key is None else p.key[0],
                round=None if p.key is None else p.key[1],
                rejected=p.rejected,
                accepted=accepted,
                front_size=len(cols),
            ))
            results.append(AppendResult(name, rows, p.rejected, accepted, len(cols), ids))
        front = _LazyFront([*parts, *(job[1] for job in jobs)], source)
        manifest = dataclasses.replace(self._manifest, next_point_id=first_id,
                                       segments=[*self._manifest.segments, *entries])
        self._appends_since_compaction += len(entries)
        compact = self._appends_since_compaction >= self.compact_every
        try:
            with self._disk_errors(f"the manifest entry of {names}"):
                self._commit(manifest, front, cols, compact=compact, new=entries)
        except ArchiveError:  # not committed: the segments are the write in flight, discard
            for path in paths:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        self._number = number
        for e in entries:
            if e.key is not None:
                self._committed.setdefault(e.key, e)
        return results

    def _next_number(self) -> int:
        """The next segment number (computed once from the manifest, then counted)."""
        if self._number is None:
            self._number = self._manifest.next_segment_number
        return self._number

    def _commit(
        self, manifest: Manifest, front_rows: _LazyFront, front_cols: FrontArrays, *,
        compact: bool, new: Sequence[SegmentEntry] = (),
    ) -> None:
        """Commit ``new`` entries: by the journal, or, when compaction is due, by writing
        front.arrow and replacing the manifest (which empties the journal); memory last."""
        if compact:
            front = front_rows.table()
            data = _serialize(front)
            # A cache checked against the manifest's sha256: atomic, but not fsynced (after a
            # power cut a damaged front.arrow is simply rebuilt from the segments).
            atomic_write_bytes(self._archive / FRONT_ARROW, data, durable=False)
            manifest.front = FrontEntry(
                rows=front.num_rows,
                bytes=len(data),
                sha256=sha256_hex(data),
                covers_through=manifest.segments[-1].name if manifest.segments else None,
                excluded=self._excluded,
                created=_iso(_now()),
            )
        if compact:
            atomic_write_bytes(self._archive / MANIFEST_JSON, manifest.to_json())
            self._drop_journal()
        else:
            self._journal(new, manifest.next_point_id)
        if compact and (self.run_dir / CHECKPOINT_DIR).is_dir():  # networks: the manifest
            collect_garbage(self.run_dir, front.column("params_ref").to_pylist())  # is out
        self._manifest, self._front_rows, self._front_cols = manifest, front_rows, front_cols
        if compact:
            self._appends_since_compaction = 0

    def _journal(self, entries: Sequence[SegmentEntry], next_point_id: int) -> None:
        """Append the commit of ``entries`` to ``archive/manifest.log`` and fsync it."""
        path = self._archive / MANIFEST_LOG
        fd = self._journal_fd
        if fd is None:
            created = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._journal_fd = fd
            if created:
                fsync_dir(self._archive)
        data = b"".join(journal_line(e, next_point_id) for e in entries)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)

    def _drop_journal(self) -> None:
        """The manifest now lists every entry: the journal is emptied."""
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None
        path = self._archive / MANIFEST_LOG
        if path.exists():
            path.unlink()
            fsync_dir(self._archive)

    def _write_front_and_manifest(self) -> None:
        manifest = dataclasses.replace(self._manifest, segments=list(self._manifest.segments))
        self._commit(manifest, self._front_rows, self._front_cols, compact=True)

    def compact(self) -> None:
        """Rewrite ``front.arrow`` now if it does not cover every committed append."""
        self._check_open()
        if self._appends_since_compaction:
            self._write_front_and_manifest()

    # ------------------------------------------------------------------ metadata and state
    def update_meta(self, **kv: Any) -> None:
        """Merge keys into ``run.json`` and rewrite it atomically.

        Args:
            **kv: New or changed keys (``config``, ``ref_point``, lineage, ...). The keys the
                store owns (``n_obj``, ``n_var``, ``schema_version``, ...) cannot change.
        """
        self._check_open()
        _check_meta(kv, self.n_obj, where="Store.update_meta")
        meta = {**self.meta, **kv}
        atomic_write_json(self.run_dir / RUN_JSON, meta)
        self.meta = read_run_meta(Location(self.run_dir))

    def write_state(self, obj: Mapping[str, Any]) -> None:
        """Replace ``RUN_DIR/state.json`` atomically with ``obj`` (JSON; numpy is converted).

        The coordinator keeps what it needs to resume here (its last reference vectors, the
        round counter); the archive itself never reads it.
        """
        self._check_open()
        atomic_write_json(self.run_dir / STATE_JSON, dict(obj))

    def read_state(self) -> dict[str, Any] | None:
        """The content of ``state.json``, or None when no state was written yet."""
        try:
            data = Location(self.run_dir).read_json(STATE_JSON)
        except FileNotFoundError:
            return None
        return dict(data)

    # ------------------------------------------------------------------ closing
    @contextlib.contextmanager
    def _disk_errors(self, what: str) -> Iterator[None]:
        """Turn a failed write (disk full, quota, read-only, permissions) into one clear error."""
        try:
            yield
        except OSError as exc:
            raise ArchiveError(
                f"Could not write {what} to {self.run_dir}: {exc.strerror or exc}"
                f"{f' ({exc.filename})' if exc.filename else ''}. Nothing of this append was "
                "committed and every committed segment is intact; free space (or fix the "
                f"permissions) and continue with `paretoray resume {self.run_dir}`."
            ) from None

    def close(self) -> None:
        """Compact the front if needed and release the lock (idempotent).

        A failure to write the compacted front (disk full, ...) is a warning, not an error:
        ``front.arrow`` is a cache, rebuilt from the segments on the next open.
        """
        if self._closed:
            return
        try:
            if self._appends_since_compaction:
                self._write_front_and_manifest()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            warnings.warn(
                f"Could not compact front.arrow of {self.run_dir} on close ({reason}); every "
                "committed segment is intact and the front is rebuilt from them on the next "
                "open.",
                ArchiveWarning,
                stacklevel=2,
            )
        finally:
            self._closed = True
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            self._lock.release()
            self._finalizer.detach()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (f"Store({str(self.run_dir)!r}, m={self.n_obj}, d={self.n_var}, "
                f"segments={len(self._manifest.segments)}, front={len(self._front_cols)}, {state})")


def _single_key(shard: Any, round: Any) -> tuple[int, int] | None:
    """``(shard, round)`` when both hold one value, else None."""
    values = []
    for value in (shard, round):
        arr = np.unique(np.asarray(value))
        if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer):
            return None
        values.append(int(arr[0]))
    return values[0], values[1]


def _parses(path: Path, schema: pa.Schema) -> bool:
    """Whether ``path`` is a complete Arrow IPC file of the run's schema."""
    try:
        table = pa.ipc.open_file(pa.py_buffer(path.read_bytes())).read_all()
    except (pa.ArrowInvalid, OSError):
        return False
    return schema_problem(table.schema, schema) is None


def _quarantine(path: Path, folder: Path) -> str:
    """Move ``path`` into ``folder`` under a name not taken yet; returns the new path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{path.stem}~{n}{path.suffix}"
    os.replace(path, target)
    return str(target)


class _LazyFront:
    """The front table as the tables its rows come from and which rows: taken once, when
    it is read (:meth:`table`), not at every commit -- a coordinator commits every
    shard's offer but reads the front about once a round. A take is O(front): an EPO
    run of 4096 members on ZDT1 holds 20 000 nondominated points after 8 rounds, and
    its take cost the coordinator 1.5-3.6 ms of CPU a commit, 8 commits a round at 8
    workers.

    Args:
        parts: Tables of the point schema.
        source: Rows of their concatenation that form the front, in order; None: all.
    """

    #: More parts than this are taken at once (bounds the memory the parts hold).
    MAX_PARTS = 64

    def __init__(self, parts: Sequence[pa.Table], source: np.ndarray | None = None) -> None:
        self.parts = list(parts)
        self._source = source
        if len(self.parts) > self.MAX_PARTS:
            self.table()

    def source(self) -> np.ndarray:
        """The front's rows of the concatenated parts."""
        if self._source is None:
            return np.arange(sum(t.num_rows for t in self.parts))
        return self._source

    def take(self, rows: np.ndarray) -> pa.Table:
        """Rows ``rows`` of the front table, leaving the front untaken."""
        return self._take(self.source()[rows])

    def table(self) -> pa.Table:
        """The front table (taken now if it was not yet)."""
        if self._source is not None or len(self.parts) != 1:
            rows = self._source
            if rows is None or (len(rows) == sum(t.num_rows for t in self.parts)
                                and np.array_equal(rows, np.arange(len(rows)))):
                table = pa.concat_tables(self.parts)  # every row, in order: nothing to take
            else:
                table = self._take(rows)
            if len(table.column("point_id").chunks) > 8:
                table = table.combine_chunks()
            self.parts, self._source = [table], None
        return self.parts[0]

    def _take(self, wanted: np.ndarray) -> pa.Table:
        """Rows ``wanted`` of the concatenated parts, taken part by part: pyarrow's take
        over a table of many chunks concatenates every chunk of the list columns first
        (the front of an EPO run, 3 x 10^4 of 6.5 x 10^4 rows in 32 parts: 98 ms, part by
        part 9 ms; 1024 rows of ~100 parts: 14 -> 1.4 ms)."""
        sizes = np.array([t.num_rows for t in self.parts])
        starts = np.cumsum(sizes) - sizes
        part = np.searchsorted(starts + sizes, wanted, side="right")
        order = None
        if np.any(part[1:] < part[:-1]):  # not in part order: taken sorted, then reordered
            order = np.argsort(part, kind="stable")
            wanted, part = wanted[order], part[order]
        bounds = np.searchsorted(part, np.arange(len(self.parts) + 1))
        pieces = [self.parts[p].take(pa.array(wanted[bounds[p]:bounds[p + 1]] - starts[p]))
                  for p in range(len(self.parts)) if bounds[p + 1] > bounds[p]]
        if not pieces:
            return self.parts[0].slice(0, 0)
        table = pa.concat_tables(pieces)
        if order is None:
            return table
        return table.combine_chunks().take(pa.array(np.argsort(order)))


@dataclass(frozen=True)
class _Pending:
    """An append checked and built, not yet written."""

    table: pa.Table
    key: tuple[int, int] | None
    rejected: int


_POOL: Any = None


def _write_all(files: Sequence[tuple[Path, Any]]) -> None:
    """Write files atomically and durably in parallel threads (their fsyncs overlap, so the
    file system commits them together); the caller fsyncs their directory once."""
    global _POOL
    if len(files) == 1:
        atomic_write_bytes(files[0][0], files[0][1], sync_dir=False)
        return
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="paretoray-fsync")
    futures = [_POOL.submit(atomic_write_bytes, path, data, sync_dir=False)
               for path, data in files]
    errors = [f.exception() for f in futures]
    for err in errors:
        if err is not None:
            raise err


def _serialize(table: pa.Table) -> pa.Buffer:
    """The bytes of ``table`` as an Arrow IPC file (uncompressed, readable by every reader)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()
