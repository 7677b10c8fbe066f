"""Reading a run directory: verification, recovery of the front, and the read-only API.

Segments are the log and ``front.arrow`` is a cache. A reader trusts the cache only when the
manifest's checksum for it matches and the segments it covers still have the status they had
when it was built; otherwise the front is rebuilt in memory from the segments (starting
from a valid but older ``front.arrow`` when there is one, merging only the later segments).
A segment that is missing or fails its size, checksum, Arrow or schema check is reported by
name and never merged. None of this needs the lock, and it works on any pyarrow filesystem.

:func:`verify` also checks the exactly-once property of the log: no ``(shard, round)`` is
committed by two segments, and no round is missing between a shard's first and last round
of a session (the ``lineage`` in ``run.json``). The pairs are read from the segments'
``shard``/``round`` columns, so manifests older than the per-entry record are checked too.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from paretoray.archive._fs import Location, is_tmp_name, sha256_hex
from paretoray.archive._warn import ArchiveWarning
from paretoray.archive.manifest import (
    ARCHIVE_DIR,
    FRONT_ARROW,
    MANIFEST_JSON,
    MANIFEST_LOG,
    QUARANTINE_DIR,
    RUN_FORMAT,
    RUN_JSON,
    SEGMENT_DIR,
    Manifest,
    SegmentEntry,
    apply_journal,
    segment_number,
)
from paretoray.archive.merge import merge_nondominated
from paretoray.archive.pareto_set import ParetoSet
from paretoray.archive.schema import (
    SCHEMA_VERSION,
    default_objective_names,
    front_candidates,
    list_to_numpy,
    objective_signs,
    point_schema,
    schema_problem,
)
from paretoray.errors import ArchiveError

__all__ = ["VerifyReport", "open", "read_points", "segment_paths", "verify"]


def read_run_meta(loc: Location) -> dict[str, Any]:
    """Read and check ``run.json``.

    Returns:
        Its content, with ``n_obj``, ``n_var`` and ``objective_names`` filled in and checked.

    Raises:
        ArchiveError: When it is missing, malformed or from a newer paretoray.
    """
    try:
        meta = loc.read_json(RUN_JSON)
    except FileNotFoundError:
        raise ArchiveError(
            f"{loc.display} is not a paretoray run directory: {RUN_JSON} is missing. "
            "Create one with `Store.create(run_dir, n_obj=...)`, or check the path."
        ) from None
    where = loc.path(RUN_JSON)
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise ArchiveError(f"{where} is not a paretoray run.json (expected format {RUN_FORMAT!r}).")
    version = meta.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ArchiveError(
            f"{where} has schema version {version!r}; this paretoray reads versions up to "
            f"{SCHEMA_VERSION}. Upgrade paretoray to open this run."
        )
    n_obj, n_var = meta.get("n_obj"), meta.get("n_var")
    if not isinstance(n_obj, int) or n_obj < 2 or not (n_var is None or isinstance(n_var, int)):
        raise ArchiveError(f"{where} has invalid n_obj={n_obj!r} / n_var={n_var!r}.")
    names = meta.get("objective_names") or default_objective_names(n_obj)
    if len(names) != n_obj:
        raise ArchiveError(f"{where} lists {len(names)} objective_names for n_obj={n_obj}.")
    meta["objective_names"] = [str(n) for n in names]
    try:
        objective_signs(meta.get("directions"), n_obj)
    except ValueError as exc:
        raise ArchiveError(f"{where}: {exc}") from None
    return meta


def read_manifest(loc: Location) -> Manifest:
    """Read ``archive/manifest.json`` and its journal ``archive/manifest.log`` (an empty
    manifest when neither it nor segments exist)."""
    rel = f"{ARCHIVE_DIR}/{MANIFEST_JSON}"
    try:
        data = loc.read_json(rel)
    except FileNotFoundError:
        stray = [n for d in (ARCHIVE_DIR, f"{ARCHIVE_DIR}/{SEGMENT_DIR}")
                 for n in loc.list_names(d) if segment_number(n) is not None]
        if stray:
            raise ArchiveError(
                f"{loc.path(rel)} is missing but {len(stray)} segment files exist "
                f"({stray[0]}, ...). The manifest is never removed by paretoray; restore it "
                "from a backup before opening this run, so that no segment is discarded."
            ) from None
        return Manifest()
    manifest = Manifest.from_dict(data, where=loc.path(rel))
    journal = f"{ARCHIVE_DIR}/{MANIFEST_LOG}"
    try:
        entries = loc.read_bytes(journal)
    except FileNotFoundError:
        return manifest
    return apply_journal(manifest, entries, where=loc.path(journal))


def schema_for(meta: dict[str, Any]) -> pa.Schema:
    """The point schema of the run described by ``meta`` (``run.json``)."""
    return point_schema(meta["n_obj"], meta.get("n_var"), meta["objective_names"],
                        meta.get("metric_names"),
                        constrained=bool(meta.get("n_ieq_constr")))


def _parse_arrow(data: bytes, schema: pa.Schema, rows: int) -> tuple[pa.Table | None, str | None]:
    try:
        table = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        return None, f"not a readable Arrow IPC file ({exc})"
    problem = schema_problem(table.schema, schema)
    if problem is not None:
        return None, problem
    if table.num_rows != rows:
        return None, f"holds {table.num_rows} rows, the manifest says {rows}"
    return table.replace_schema_metadata(schema.metadata), None


def segment_rel(loc: Location, name: str, manifest: Manifest | None = None) -> str:
    """Where segment ``name`` lives, relative to the run directory.

    With ``manifest`` its ``segment_dir`` decides; without, ``archive/segments/`` is tried
    first and ``archive/`` (run directories written before schema version 2) second.
    """
    if manifest is not None:
        return manifest.segment_rel(name)
    new = f"{ARCHIVE_DIR}/{SEGMENT_DIR}/{name}"
    return new if loc.size(new) is not None else f"{ARCHIVE_DIR}/{name}"


def read_segment(
    loc: Location,
    entry: SegmentEntry,
    schema: pa.Schema,
    *,
    parse: bool = True,
    manifest: Manifest | None = None,
) -> tuple[pa.Table | None, str | None]:
    """Read and check one committed segment.

    Args:
        loc: The run directory.
        entry: The segment's manifest entry.
        schema: The run's point schema.
        parse: Whether to parse the Arrow file after the checksum (False: only check
            size and sha256, and return no table).
        manifest: The manifest listing ``entry`` (it says which folder holds the segments);
            when None both layouts are tried.

    Returns:
        ``(table, None)`` when it verifies, else ``(None, reason)``.
    """
    rel = segment_rel(loc, entry.name, manifest)
    size = loc.size(rel)
    if size is None:
        return None, "missing"
    if size != entry.bytes:
        return None, (
            f"size is {size} bytes, the manifest says {entry.bytes} (truncated or replaced)"
        )
    data = loc.read_bytes(rel)
    if sha256_hex(data) != entry.sha256:
        return None, "sha256 checksum mismatch (the file changed after it was committed)"
    if not parse:
        return None, None
    return _parse_arrow(data, schema, entry.rows)


def merge_table(
    front: pa.Table, front_obj: np.ndarray, new: pa.Table, sign: np.ndarray | None = None,
) -> tuple[pa.Table, np.ndarray, int]:
    """Merge the points of ``new`` into the front table.

    Args:
        front: The current front, rows sorted by point id.
        front_obj: A `n x m`-dim array, its objectives in minimization form.
        new: Points with larger ids than every front point, finite objectives; its
            infeasible rows (``violation > 0``) never enter the front.
        sign: The run's :func:`~paretoray.archive.schema.objective_signs` (None: minimize).

    Returns:
        ``(table, objectives, accepted)``: the merged front, its `n' x m`-dim objectives in
        minimization form, and how many rows of ``new`` entered it.
    """
    rows, new_obj = front_candidates(new, front_obj.shape[1], sign)
    keep_front, keep_new = merge_nondominated(front_obj, new_obj)
    accepted = int(keep_new.sum())
    if accepted == 0 and keep_front.all():
        return front, front_obj, 0
    table = pa.concat_tables([front.filter(pa.array(keep_front)),
                              new.take(pa.array(rows[keep_new]))])
    return table, np.concatenate([front_obj[keep_front], new_obj[keep_new]]), accepted


@dataclass
class ScanResult:
    """What a scan of a run directory found (internal; see :class:`VerifyReport`)."""

    meta: dict[str, Any]
    schema: pa.Schema
    manifest: Manifest
    problems: dict[str, str]
    orphans: list[str]
    front: pa.Table
    front_obj: np.ndarray
    front_fresh: bool
    front_note: str | None
    keys: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    quarantined: list[str] = field(default_factory=list)


def table_keys(table: pa.Table) -> list[tuple[int, int]]:
    """The distinct ``(shard, round)`` pairs of a segment's rows, sorted."""
    if table.num_rows == 0:
        return []
    shard = np.asarray(table["shard"].to_numpy(), dtype=np.int64)
    rnd = np.asarray(table["round"].to_numpy(), dtype=np.int64)
    if shard.min() == shard.max() and rnd.min() == rnd.max():  # one round: the usual case
        return [(int(shard[0]), int(rnd[0]))]
    codes = np.unique((shard << 32) | (rnd & 0xFFFFFFFF))  # both are int32 columns
    return [(int(c >> 32), int(np.int32(c & 0xFFFFFFFF))) for c in codes]


def _check_front(
    loc: Location, manifest: Manifest, schema: pa.Schema, problems: dict[str, str]
) -> tuple[pa.Table | None, list[str], str | None]:
    """Load ``front.arrow`` if it may serve as a base: ``(table, covered names, problem)``."""
    entry = manifest.front
    names = [s.name for s in manifest.segments]
    if entry is None:
        return None, [], "no front.arrow has been written yet" if names else None
    rel = f"{ARCHIVE_DIR}/{FRONT_ARROW}"
    size = loc.size(rel)
    if size is None:
        return None, [], "front.arrow is missing"
    data = loc.read_bytes(rel)
    if size != entry.bytes or sha256_hex(data) != entry.sha256:
        return None, [], "front.arrow does not match the manifest's checksum"
    table, problem = _parse_arrow(data, schema, entry.rows)
    if table is None:
        return None, [], f"front.arrow is {problem}"
    if entry.covers_through is None:
        covered: list[str] = []
    elif entry.covers_through in names:
        covered = names[: names.index(entry.covers_through) + 1]
    else:
        return None, [], f"front.arrow covers {entry.covers_through}, which is not committed"
    excluded = set(entry.excluded)
    for name in covered:
        if (name in problems) != (name in excluded):
            state = "fails its check now" if name in problems else "verifies now"
            return None, [], f"{name} {state}, unlike when front.arrow was built"
    return table, covered, None


def scan(loc: Location, *, checksums: bool = True) -> ScanResult:
    """Verify a run directory and recover its front, without writing anything.

    Args:
        loc: The run directory.
        checksums: Whether to check every committed segment's sha256 (reads all of them).
            When False only sizes are checked up front, and a fresh ``front.arrow`` is trusted.

    Returns:
        A :class:`ScanResult`.
    """
    meta = read_run_meta(loc)
    schema = schema_for(meta)
    m = meta["n_obj"]
    for _ in range(3):  # a writer may replace manifest and front between our two reads
        manifest = read_manifest(loc)
        problems: dict[str, str] = {}
        keys: dict[str, list[tuple[int, int]]] = {}
        for entry in manifest.segments:
            if checksums:
                table, problem = read_segment(loc, entry, schema, manifest=manifest)
                if table is not None:
                    keys[entry.name] = table_keys(table)
            else:
                size = loc.size(manifest.segment_rel(entry.name))
                problem = None if size == entry.bytes else (
                    "missing" if size is None else
                    f"size is {size} bytes, the manifest says {entry.bytes}"
                )
            if problem is not None:
                problems[entry.name] = problem
        base, covered, front_problem = _check_front(loc, manifest, schema, problems)
        if front_problem is None or read_manifest(loc) == manifest:
            break
    names = [s.name for s in manifest.segments]
    front_fresh = front_problem is None and covered == names
    if base is None:
        base, covered = schema.empty_table(), []
    sign = objective_signs(meta.get("directions"), m)
    front, front_obj = base, list_to_numpy(base["objectives"], m) * sign
    to_merge = [s for s in manifest.segments[len(covered) :] if s.name not in problems]
    for entry in to_merge:
        table, problem = read_segment(loc, entry, schema, manifest=manifest)
        if table is None:
            problems[entry.name] = problem or "unreadable"
            continue
        front, front_obj, _ = merge_table(front, front_obj, table, sign)
    if front_problem is None and not front_fresh:
        front_problem = (
            f"front.arrow covers segments through {covered[-1] if covered else 'none'}; "
            f"{len(names) - len(covered)} later segment(s) were merged in memory"
        )
    committed = {manifest.segment_rel(n) for n in names}
    orphans = []
    for folder in (ARCHIVE_DIR, f"{ARCHIVE_DIR}/{SEGMENT_DIR}"):
        orphans += [f"{folder}/{n}" for n in loc.list_names(folder)
                    if is_tmp_name(n) or (segment_number(n) is not None
                                          and f"{folder}/{n}" not in committed)]
    orphans += [n for n in loc.list_names("") if is_tmp_name(n)]
    quarantined = [f"{ARCHIVE_DIR}/{QUARANTINE_DIR}/{n}"
                   for n in loc.list_names(f"{ARCHIVE_DIR}/{QUARANTINE_DIR}")]
    return ScanResult(meta, schema, manifest, problems, orphans, front.combine_chunks(),
                      front_obj, front_fresh, front_problem, keys, quarantined)


def round_problems(
    entries: list[SegmentEntry],
    keys: dict[str, list[tuple[int, int]]],
    lineage: Any = None,
) -> tuple[list[tuple[int, int, list[str]]], list[tuple[int, int]]]:
    """Duplicate and missing ``(shard, round)`` records of a run's log.

    Args:
        entries: The committed segments, in commit order.
        keys: Per segment name, the ``(shard, round)`` pairs read from its rows; entries
            missing here use the manifest's record (``shard``/``round``), if any.
        lineage: ``run.json``'s ``lineage`` (a list of ``{"first_round": r, ...}``): gaps
            are looked for inside each session only, between a shard's first and last round.

    Returns:
        ``(duplicates, missing)``: ``(shard, round, segment names)`` for every pair
        committed by more than one segment, and the ``(shard, round)`` pairs absent between
        a shard's first and last committed round of a session.
    """
    owners: dict[tuple[int, int], list[str]] = {}
    for entry in entries:
        pairs = keys.get(entry.name)
        if pairs is None:
            pairs = [] if entry.key is None else [entry.key]
        for pair in pairs:
            owners.setdefault(pair, []).append(entry.name)
    duplicates = [(s, r, names) for (s, r), names in sorted(owners.items()) if len(names) > 1]
    starts = sorted({int(s.get("first_round", 0)) for s in lineage
                     if isinstance(s, dict)}) if isinstance(lineage, list) else []
    by_session: dict[tuple[int, int], list[int]] = {}
    for shard, rnd in owners:
        session = int(np.searchsorted(starts, rnd, side="right")) if starts else 0
        by_session.setdefault((shard, session), []).append(rnd)
    missing: list[tuple[int, int]] = []
    for (shard, _), rounds in sorted(by_session.items()):
        present = np.unique(rounds)
        gaps = np.setdiff1d(np.arange(present[0], present[-1] + 1), present)
        missing += [(shard, int(r)) for r in gaps]
    return duplicates, sorted(missing)


@dataclass
class VerifyReport:
    """What :func:`verify` found in a run directory.

    Attributes:
        run_dir: The run directory as given.
        ok: True when every committed segment is present and verifies. Orphans (left by a
            crash between a segment's rename and the manifest update) and a stale front are
            recoverable and do not make a report fail.
        segments: Names of the committed segments, in commit order.
        rows: Number of points in the segments that verify.
        corrupt: ``(name, reason)`` for each committed segment that is skipped.
        orphans: Files (relative to the run directory) that no manifest references; readers
            ignore them and the next writable open removes them.
        front_fresh: Whether ``front.arrow`` is valid and covers every committed segment.
        front_rows: Number of points in the front (as rebuilt when it was stale).
        front_note: Why the front is not fresh, or None.
        duplicates: ``(shard, round, segment names)`` for each round committed more than
            once (a replay appended twice); makes the report fail.
        missing_rounds: ``(shard, round)`` absent between a shard's first and last committed
            round of a session (a round that went missing); makes the report fail.
        quarantined: Files kept in ``archive/quarantine/`` (segments found on disk that the
            manifest does not list); re-admit them with ``paretoray verify --readmit``.
    """

    run_dir: str
    ok: bool
    segments: list[str]
    rows: int
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    front_fresh: bool = True
    front_rows: int = 0
    front_note: str | None = None
    duplicates: list[tuple[int, int, list[str]]] = field(default_factory=list)
    missing_rounds: list[tuple[int, int]] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"Run directory {self.run_dir}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        lines.append(f"  segments: {len(self.segments)} committed, {self.rows} rows verified")
        if self.corrupt:
            lines.append(f"  corrupt:  {len(self.corrupt)} segment(s) skipped, never merged:")
            lines += [f"    {name}: {reason}" for name, reason in self.corrupt]
        else:
            lines.append("  corrupt:  none")
        if self.duplicates:
            lines.append(f"  rounds:   {len(self.duplicates)} (shard, round) committed more "
                         "than once:")
            lines += [f"    shard {s} round {r}: {', '.join(names)}"
                      for s, r, names in self.duplicates]
        if self.missing_rounds:
            shown = ", ".join(f"shard {s} round {r}" for s, r in self.missing_rounds[:20])
            more = len(self.missing_rounds) - 20
            lines.append(f"  missing:  {len(self.missing_rounds)} round(s) never committed: "
                         f"{shown}{f', ... ({more} more)' if more > 0 else ''}")
        if not self.duplicates and not self.missing_rounds:
            lines.append("  rounds:   each (shard, round) committed once, none missing")
        if self.orphans:
            lines.append(f"  orphans:  {', '.join(self.orphans)} (ignored; on the next writable "
                         "open the write in flight is discarded and other segments are "
                         "quarantined)")
        else:
            lines.append("  orphans:  none")
        if self.quarantined:
            lines.append(f"  quarantine: {', '.join(self.quarantined)} (kept, not in the "
                         "archive; `paretoray verify --readmit RUN_DIR` re-admits them)")
        state = "fresh" if self.front_fresh else f"stale ({self.front_note}); rebuilt on open"
        lines.append(f"  front:    {self.front_rows} points, {state}")
        return "\n".join(lines)


def report_from_scan(run_dir: str, result: ScanResult) -> VerifyReport:
    """Summarize a :class:`ScanResult` as a :class:`VerifyReport`."""
    corrupt = [(s.name, result.problems[s.name]) for s in result.manifest.segments
               if s.name in result.problems]
    rows = sum(s.rows for s in result.manifest.segments if s.name not in result.problems)
    duplicates, missing = round_problems(result.manifest.segments, result.keys,
                                         result.meta.get("lineage"))
    return VerifyReport(
        run_dir=run_dir,
        ok=not corrupt and not duplicates and not missing,
        segments=[s.name for s in result.manifest.segments],
        rows=rows,
        corrupt=corrupt,
        orphans=result.orphans,
        front_fresh=result.front_fresh,
        front_rows=result.front.num_rows,
        front_note=result.front_note,
        duplicates=duplicates,
        missing_rounds=missing,
        quarantined=result.quarantined,
    )


def warn_corrupt(report: VerifyReport, *, stacklevel: int = 3) -> None:
    """Emit one warning per corrupt segment in ``report``."""
    for name, reason in report.corrupt:
        warnings.warn(
            f"Skipping archive segment {name} of {report.run_dir}: {reason}. Its points are "
            "not in the front. Restore the file from a backup to bring them back; "
            "`paretoray.archive.verify(run_dir)` lists every problem.",
            ArchiveWarning,
            stacklevel=stacklevel,
        )


def verify(run_dir: str | os.PathLike[str]) -> VerifyReport:
    """Check every committed segment and the front of a run directory, read-only.

    Args:
        run_dir: A local path or a pyarrow filesystem URI.

    Returns:
        A :class:`VerifyReport`; ``print(report)`` shows it.

    Raises:
        ArchiveError: When ``run.json`` or the manifest is missing or unreadable.
    """
    loc = Location(run_dir)
    return report_from_scan(loc.display, scan(loc, checksums=True))


def open(run_dir: str | os.PathLike[str], *, checksums: bool = True) -> ParetoSet:
    """Read the nondominated set of a run, read-only and without the lock.

    ``front.arrow`` is used when it is valid and fresh; otherwise the front is rebuilt in
    memory from the segments (nothing is written). Corrupt segments are skipped with a
    warning naming them.

    Args:
        run_dir: A local path or a pyarrow filesystem URI (``file://``, ``s3://``, ...).
        checksums: Check every segment's sha256 (reads the whole archive; the default).
            False checks only sizes and trusts a fresh ``front.arrow``: faster on large runs.

    Returns:
        The run's :class:`ParetoSet`.
    """
    loc = Location(run_dir)
    result = scan(loc, checksums=checksums)
    warn_corrupt(report_from_scan(loc.display, result))
    return ParetoSet(result.front, meta=result.meta, run_dir=loc.display)


def segment_paths(run_dir: str | os.PathLike[str]) -> list[str]:
    """Paths of the committed segments, in commit order, for other readers.

    Use these rather than a glob: a glob may also match an orphan left by a crash.
    ``pyarrow.dataset.dataset(segment_paths(run_dir), format="arrow")`` reads every point.

    Args:
        run_dir: A local path or a pyarrow filesystem URI.
    """
    loc = Location(run_dir)
    manifest = read_manifest(loc)
    return [loc.path(manifest.segment_rel(s.name)) for s in manifest.segments]


def read_points(run_dir: str | os.PathLike[str]) -> pa.Table:
    """Every point ever appended to a run (not only the front), from the verified segments.

    Corrupt segments are skipped with a warning naming them.

    Args:
        run_dir: A local path or a pyarrow filesystem URI.

    Returns:
        A table in the run's point schema, rows in point-id order.
    """
    loc = Location(run_dir)
    meta = read_run_meta(loc)
    schema = schema_for(meta)
    tables, corrupt = [], []
    manifest = read_manifest(loc)
    for entry in manifest.segments:
        table, problem = read_segment(loc, entry, schema, manifest=manifest)
        if table is None:
            corrupt.append((entry.name, problem or "unreadable"))
        else:
            tables.append(table)
    warn_corrupt(VerifyReport(loc.display, not corrupt, [], 0, corrupt))
    return pa.concat_tables([schema.empty_table(), *tables])
