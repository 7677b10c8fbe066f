"""The view model of a run directory: what the dashboard and the report show, as plain JSON.

Minimization is assumed. :func:`build_view` reads one snapshot of a run directory through the
archive's public readers (``run.json``, the manifest, then each committed segment it lists,
verified by size and sha256) and never takes the lock, so it may run while a writer appends.
From that one snapshot it computes, without writing anything:

- the front, merged segment by segment in commit order exactly as the store merges it (so it
  equals ``paretoray.open(run_dir)`` for the same manifest), with how many points of each
  segment entered the front when it was committed (the per-shard "accepted" count);
- the history per round: the hypervolume and (when the true front is known) the IGD of the
  nondominated set of all points with ``round <= r``, with a reference point fixed over the
  whole history;
- per-shard progress from the segments' ``round``/``shard`` columns, plus the NaN resets and
  scheduler decisions that the coordinator's state records, when it has any;
- the lineage of sessions from ``run.json``.

The coordinator's state is read defensively, from ``state/`` (``base.json`` and JSON-lines
records) or an earlier run's ``state.json``; a missing or unreadable state, or a torn last
line, only leaves those figures out.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from paretoray.archive._fs import Location, is_uri
from paretoray.archive.merge import merge_nondominated
from paretoray.archive.pareto_set import ParetoSet
from paretoray.archive.reader import (
    read_manifest,
    read_run_meta,
    read_segment,
    schema_for,
)
from paretoray.archive.schema import front_candidates, list_to_numpy, objective_signs
from paretoray.errors import ArchiveError

__all__ = ["ViewCache", "build_view", "true_front_of", "view_signature"]

#: Columns of the point schema that are not shown as a network's metrics.
_STANDARD = {"point_id", "round", "shard", "member", "algorithm", "objectives", "preference",
             "x", "params_ref", "step", "time"}
#: At most this many preference rays are drawn (the front's distinct preferences, spread).
_MAX_RAYS = 24

#: Fronts kept for the last this many rounds, so new points of a recent round only recompute
#: the history from that round on.
_SNAPSHOTS = 8


@dataclass
class ViewCache:
    """What :func:`build_view` keeps between polls of one run directory.

    Committed segments never change, so each is read and verified once; the commit-order
    merge continues from the last segment merged, and the history from the latest rounds.

    Attributes:
        tables: ``(segment name, sha256) -> table`` of every verified segment.
        merged: The segments merged so far, in commit order.
        front_idx: Rows (into the merged segments, concatenated) that form the front.
        front_obj: A `k x m`-dim array, their objectives.
        accepted: Per merged segment, how many of its rows entered the front.
        rows: Rows of the merged segments.
        history: The per-round history state of :func:`_history`.
    """

    tables: dict[tuple[str, str], pa.Table] = field(default_factory=dict)
    merged: list[tuple[str, str]] = field(default_factory=list)
    front_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    front_obj: np.ndarray | None = None
    accepted: list[int] = field(default_factory=list)
    rows: int = 0
    history: dict[str, Any] = field(default_factory=dict)

    def reset(self, m: int) -> None:
        """Forget the merge (keep the verified tables)."""
        self.merged, self.accepted, self.rows, self.history = [], [], 0, {}
        self.front_idx, self.front_obj = np.zeros(0, np.int64), np.zeros((0, m))


def _finite(values: np.ndarray) -> list[Any]:
    """A nested list with NaN/inf replaced by None (JSON has no NaN)."""
    arr = np.asarray(values, dtype=np.float64)
    out = np.where(np.isfinite(arr), arr, np.nan).astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


@lru_cache(maxsize=32)
def _true_front_cached(
    name: str, options_json: str, n_points: int
) -> tuple[tuple[float, ...], ...]:
    from paretoray import problems

    problem = problems.get(name, **json.loads(options_json))
    if not problem.has_pareto_front:
        return ()
    front = problem.pareto_front(n_points).detach().cpu().double().numpy()
    order = np.lexsort(front.T[::-1])
    return tuple(map(tuple, front[order].tolist()))


def true_front_of(meta: dict[str, Any], n_points: int = 200) -> np.ndarray | None:
    """The true front of the run's problem, when the registry knows it.

    The problem is rebuilt from ``run.json``'s ``problem`` name and its ``config``'s
    ``problem_options``; custom problems (``custom_problem`` or a ``custom:`` name) and
    problems without a known front give None.

    Args:
        meta: The run's ``run.json`` content.
        n_points: About how many points to take on the front.

    Returns:
        A `t x m`-dim array sorted by the first objective, or None.
    """
    name = meta.get("problem")
    if isinstance(name, dict):
        name = name.get("name")
    if not isinstance(name, str) or meta.get("custom_problem") or name.startswith("custom:"):
        return None
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    options = config.get("problem_options") or {}
    try:
        front = _true_front_cached(name, json.dumps(options, sort_keys=True), n_points)
    except Exception:  # unknown name or options this paretoray cannot build: show no truth
        return None
    if not front or len(front[0]) != meta["n_obj"]:
        return None
    return np.asarray(front, dtype=np.float64)


@dataclass
class _State:
    """What the figures need from the coordinator's state."""

    resets: dict[int, int] = field(default_factory=dict)  # NaN resets per shard
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the decision log
    prefs: Any = None  # the current `P x m` preferences


def _json_lines(raw: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file; a torn or foreign line is skipped."""
    records = []
    for line in raw.decode(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line being appended: the next poll sees it whole
        if isinstance(record, dict):
            records.append(record)
    return records


def _session_number(name: str) -> int:
    match = re.fullmatch(r"session-(\d+)\.jsonl", name)
    return int(match.group(1)) if match else -1


def _read_state(loc: Location) -> _State | None:
    """The coordinator's state, from whichever layout the run directory has.

    ``state/`` (current): ``base.json`` (preferences, shard ranges, ...), ``session-N.jsonl``
    (the records of finished sessions) and ``log.jsonl`` (the current session's), records
    with ``kind`` ``commit`` (``shard``, ``nan_resets``, ...), ``prefs`` (``start``,
    ``values``) or ``decision`` (``action``, ``shard``, ``reason``, ``time``).
    ``state.json`` (earlier runs): ``committed`` (``"shard:round"`` -> record with
    ``metrics.nan_resets``), ``decisions`` (a list of records), ``prefs``.
    Anything unreadable is skipped: the state only adds figures to what the archive shows.
    """
    state = _State()
    names = loc.list_names("state")
    if names:
        try:
            base = loc.read_json("state/base.json") if "base.json" in names else {}
        except (OSError, ArchiveError):
            base = {}
        if isinstance(base, dict):
            state.prefs = base.get("prefs")
        logs = sorted((n for n in names if _session_number(n) >= 0), key=_session_number)
        logs += ["log.jsonl"] if "log.jsonl" in names else []
        prefs = np.asarray(state.prefs, dtype=np.float64) if state.prefs is not None else None
        for name in logs:
            try:
                records = _json_lines(loc.read_bytes(f"state/{name}"))
            except OSError:
                continue
            for record in records:
                kind = record.get("kind")
                if kind == "commit":
                    _add_reset(state, record.get("shard"), record.get("nan_resets"))
                elif kind == "decision":
                    _add_decision(state, record)
                elif kind == "prefs" and name == "log.jsonl" and prefs is not None:
                    values = np.asarray(record.get("values"), dtype=np.float64)
                    start = int(record.get("start", 0))
                    if values.ndim == 2 and start + len(values) <= len(prefs):
                        prefs[start:start + len(values)] = values
        state.prefs = prefs
        return state
    try:
        legacy = loc.read_json("state.json")
    except (FileNotFoundError, OSError, ArchiveError):
        return None
    if not isinstance(legacy, dict):
        return None
    committed = legacy.get("committed")
    for key, record in (committed.items() if isinstance(committed, dict) else []):
        if isinstance(record, dict):
            metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
            _add_reset(state, str(key).split(":", 1)[0], metrics.get("nan_resets"))
    decisions = legacy.get("decisions")
    for record in decisions if isinstance(decisions, list) else []:
        if isinstance(record, dict):
            _add_decision(state, record)
    state.prefs = legacy.get("prefs")
    return state


def _add_reset(state: _State, shard: Any, value: Any) -> None:
    try:
        s, v = int(shard), int(value)
    except (TypeError, ValueError):
        return
    state.resets[s] = state.resets.get(s, 0) + v


def _add_decision(state: _State, record: dict[str, Any]) -> None:
    if "action" not in record:
        return
    try:
        shard = int(record.get("shard", -1))
    except (TypeError, ValueError):
        shard = -1
    state.decisions.append({"action": str(record["action"]), "shard": shard,
                            "reason": str(record.get("reason", "")), "time": record.get("time")})


def _ref_point(meta: dict[str, Any], truth: np.ndarray | None, all_obj: np.ndarray,
               sign: np.ndarray) -> np.ndarray:
    """``run.json``'s ``ref_point``, else ParetoSet's default rule on the truth or the
    points; everything (and the result) minimized."""
    m = meta["n_obj"]
    ref = meta.get("ref_point")
    if ref is not None:
        return np.asarray(ref, dtype=np.float64).reshape(m) * sign
    from paretoray.indicators import default_ref_point

    return default_ref_point(truth if truth is not None else all_obj.reshape(-1, m))


def _history(rounds: np.ndarray, objectives: np.ndarray, ref: np.ndarray,
             truth: np.ndarray | None, cache: ViewCache) -> dict[str, list[Any]]:
    """Hypervolume, IGD and front size of all points with ``round <= r``, for each round r.

    Rows come in commit order; new rows usually carry the latest rounds, so the entries of
    earlier rounds and the front before each of the last few rounds are kept in ``cache``
    and only the rounds from the earliest new row's on are computed again.
    """
    from paretoray import indicators

    key = (tuple(ref.tolist()), truth is None)
    hist = cache.history
    n_old = hist.get("rows", 0)
    start_round = None
    if hist.get("key") == key and 0 < n_old <= len(rounds):
        r_min = int(rounds[n_old:].min()) if len(rounds) > n_old else None
        usable = [r for r in hist["snapshots"] if r_min is None or r <= r_min]
        if r_min is None:
            return hist["out"]
        if usable:
            start_round = max(usable)
    if start_round is None:
        start_round, front = None, np.zeros((0, objectives.shape[1]))
        out: dict[str, list[Any]] = {"round": [], "hypervolume": [], "igd": [],
                                     "front_size": [], "points": []}
        snapshots: dict[int, np.ndarray] = {}
    else:
        front = hist["snapshots"][start_round]
        keep = [i for i, r in enumerate(hist["out"]["round"]) if r < start_round]
        out = {k: [v[i] for i in keep] for k, v in hist["out"].items()}
        snapshots = {r: f for r, f in hist["snapshots"].items() if r <= start_round}
    mask = rounds >= start_round if start_round is not None else np.ones(len(rounds), bool)
    order = np.argsort(rounds[mask], kind="stable")
    rs, obj = rounds[mask][order], objectives[mask][order]
    starts = np.flatnonzero(np.r_[True, rs[1:] != rs[:-1]]) if len(rs) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(rs)] if len(rs) else np.zeros(0, int)
    n_before = int((~mask).sum())
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):  # one merge per round
        snapshots[int(rs[a])] = front
        keep_front, keep_new = merge_nondominated(front, obj[a:b])
        front = np.concatenate([front[keep_front], obj[a:b][keep_new]])
        out["round"].append(int(rs[a]))
        out["hypervolume"].append(_num(indicators.hypervolume(front, ref)))
        out["igd"].append(None if truth is None else _num(indicators.igd(front, truth)))
        out["front_size"].append(len(front))
        out["points"].append(n_before + int(b))
    recent = sorted(snapshots)[-_SNAPSHOTS:]
    cache.history = {"key": key, "rows": len(rounds), "out": out,
                     "snapshots": {r: snapshots[r] for r in recent}}
    return out


def _signature(loc: Location) -> str:
    """A cheap fingerprint (sizes and mtimes) that changes whenever ``run.json``, the manifest
    or a state file is replaced or appended to."""
    import pyarrow.fs as pafs

    infos = loc.fs.get_file_info([loc.path(r) for r in ("run.json", "archive/manifest.json",
                                                         "archive/manifest.log", "state.json")])
    infos += loc.fs.get_file_info(pafs.FileSelector(loc.path("state"), allow_not_found=True))
    return "|".join(f"{i.base_name}:{i.size}:{i.mtime_ns}" for i in infos)


def view_signature(run_dir: str | os.PathLike[str]) -> str:
    """A short string that changes when the run directory's committed content changes."""
    return _signature(Location(run_dir))


def build_view(
    run_dir: str | os.PathLike[str],
    *,
    cache: ViewCache | None = None,
    true_front_points: int = 200,
) -> dict[str, Any]:
    """Turn a run directory into a JSON-safe view model (read-only, lock-free).

    Args:
        run_dir: A local path or a pyarrow filesystem URI of a run directory (possibly being
            written).
        cache: A :class:`ViewCache` kept between calls on the same run directory, so that a
            poll reads, verifies and merges only the segments committed since the last one.
        true_front_points: About how many points of the true front to include.

    Returns:
        A dict of plain lists, numbers, strings and None (``json.dumps`` accepts it):
        ``run_dir``; ``open_path`` (what to pass to ``paretoray.open``); ``load_model`` and
        ``getitem`` (whether ``ParetoSet.load_model`` / ``front[i]`` exist); ``name``,
        ``problem``, ``algorithm``, ``n_obj``, ``n_var``, ``objective_names``, ``ref_point``;
        ``n_points`` (rows archived); ``n_segments``; ``front`` (``point_id``,
        ``objectives`` (`k x m`), ``preference`` (`k x m`), ``round``, ``shard``, ``step``,
        ``x`` (`k x d` or None), ``params_ref`` (or None), ``metrics`` (name -> `k`
        values, or None)); ``true_front`` (`t x m` or None); ``rays`` (`r x m` unit-sum
        preference vectors); ``history`` (per round: ``round``, ``hypervolume``, ``igd``,
        ``front_size``, ``points``); ``sessions``; ``shards`` (per shard: ``shard``,
        ``rounds``, ``last_round``, ``points``, ``accepted``, ``nan_resets``,
        ``decisions``); ``decisions`` (the scheduler's log); ``problems`` (segments skipped,
        with the reason); ``signature``.

    Raises:
        ArchiveError: When ``run.json`` or the manifest is missing or unreadable.
    """
    loc = Location(run_dir)
    signature = _signature(loc)
    meta = read_run_meta(loc)
    schema = schema_for(meta)
    m, d = meta["n_obj"], meta.get("n_var")
    # fronts are merged minimized; what the page shows is in the run's directions
    sign = objective_signs(meta.get("directions"), m)
    manifest = read_manifest(loc)
    cache = ViewCache() if cache is None else cache
    problems: list[dict[str, str]] = []
    verified: list[tuple[str, str]] = []
    for entry in manifest.segments:
        key = (entry.name, entry.sha256)
        if key not in cache.tables:  # committed segments never change: verify each once
            table, problem = read_segment(loc, entry, schema)
            if table is None:
                problems.append({"segment": entry.name, "reason": problem or "unreadable"})
                continue
            cache.tables[key] = table
        verified.append(key)
    if cache.front_obj is None or verified[: len(cache.merged)] != cache.merged:
        # first call, or a merged segment no longer verifies: merge from the start
        cache.reset(m)
    for key in verified[len(cache.merged):]:  # one merge per segment, in commit order
        table = cache.tables[key]
        candidates, new_obj = front_candidates(table, m, sign)  # feasible rows, minimized
        keep_front, keep_new = merge_nondominated(cache.front_obj, new_obj)
        offset = cache.rows
        cache.front_idx = np.concatenate([cache.front_idx[keep_front],
                                          offset + candidates[keep_new]])
        cache.front_obj = np.concatenate([cache.front_obj[keep_front], new_obj[keep_new]])
        cache.accepted.append(int(keep_new.sum()))
        cache.rows += table.num_rows
        cache.merged.append(key)
    tables = [cache.tables[k] for k in cache.merged]
    seg_accepted = cache.accepted
    points = pa.concat_tables([schema.empty_table(), *tables])
    front = points.take(pa.array(cache.front_idx, pa.int64())) if tables else points
    front_obj = cache.front_obj * sign
    all_round = points["round"].to_numpy().astype(np.int64)
    all_shard = points["shard"].to_numpy().astype(np.int64)
    feasible, feasible_obj = front_candidates(points, m, sign)

    truth = true_front_of(meta, true_front_points)
    ref = _ref_point(meta, None if truth is None else truth * sign, feasible_obj, sign)
    # the history counts feasible points (the only ones a front can hold), minimized
    history = _history(all_round[feasible], feasible_obj, ref,
                       None if truth is None else truth * sign, cache)
    ref = ref * sign

    state = _read_state(loc)
    resets = state.resets if state else {}
    decision_log = state.decisions if state else []
    prefs = state.prefs if state else None
    decisions: dict[int, dict[str, int]] = {}
    for entry in decision_log:
        counts = decisions.setdefault(entry["shard"], {})
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    shards: list[dict[str, Any]] = []
    seg_shard = [int(t["shard"][0].as_py()) if t.num_rows else -1 for t in tables]
    for s in sorted(set(all_shard.tolist()) | set(resets) | {k for k in decisions if k >= 0}):
        mine = all_shard == s
        shard_rounds = np.unique(all_round[mine])
        shards.append({
            "shard": s, "rounds": len(shard_rounds),
            "last_round": int(shard_rounds[-1]) if len(shard_rounds) else None,
            "points": int(mine.sum()),
            "accepted": int(sum(a for a, t in zip(seg_accepted, seg_shard, strict=True)
                                if t == s)),
            "nan_resets": resets.get(s) if state else None,
            "decisions": decisions.get(s, {}),
        })

    pref = list_to_numpy(front["preference"], m)
    rays_src = np.asarray(prefs, dtype=np.float64) if prefs is not None else pref
    if rays_src.ndim != 2 or rays_src.shape[1] != m:
        rays_src = pref
    rays_src = rays_src[np.all(np.isfinite(rays_src), axis=1) & (rays_src.sum(axis=1) > 0)]
    rays = np.unique(np.round(rays_src / rays_src.sum(axis=1, keepdims=True), 9), axis=0)
    if len(rays) > _MAX_RAYS:
        rays = rays[np.linspace(0, len(rays) - 1, _MAX_RAYS).round().astype(int)]

    x = None
    if d is not None and front.num_rows and front["x"].null_count < front.num_rows:
        x = _finite(list_to_numpy(front["x"], d))
    params = front["params_ref"].to_pylist() if "params_ref" in front.column_names else []
    metric_cols = [c for c in front.column_names if c not in _STANDARD]
    metrics = {c: front[c].to_pylist() for c in metric_cols} or None

    lineage = meta.get("lineage") if isinstance(meta.get("lineage"), list) else []
    sessions = [{"session": int(s.get("session", i + 1)),
                 "first_round": int(s.get("first_round", 0)),
                 "rounds": s.get("rounds"), "started": s.get("started"),
                 "front_size_before": s.get("front_size_before")}
                for i, s in enumerate(lineage) if isinstance(s, dict)]
    problem = meta.get("problem")
    algorithm = meta.get("algorithm")
    return {
        "run_dir": loc.display,
        "open_path": loc.display if is_uri(run_dir) else loc.root,
        "load_model": hasattr(ParetoSet, "load_model"),
        "getitem": hasattr(ParetoSet, "__getitem__"),
        "name": os.path.basename(loc.root) or loc.display,
        "problem": problem.get("name") if isinstance(problem, dict) else problem,
        "algorithm": algorithm.get("name") if isinstance(algorithm, dict) else algorithm,
        "created": meta.get("created"),
        "n_obj": m,
        "n_var": d,
        "objective_names": meta["objective_names"],
        "ref_point": _finite(ref),
        "n_points": points.num_rows,
        "n_segments": len(manifest.segments),
        "last_commit": manifest.segments[-1].created if manifest.segments else None,
        "front": {
            "point_id": front["point_id"].to_pylist(),
            "objectives": _finite(front_obj),
            "preference": _finite(pref),
            "round": front["round"].to_pylist(),
            "shard": front["shard"].to_pylist(),
            "step": front["step"].to_pylist(),
            "algorithm": front["algorithm"].to_pylist(),
            "x": x,
            "params_ref": params if any(p is not None for p in params) else None,
            "metrics": metrics,
        },
        "true_front": None if truth is None else _finite(truth),
        "rays": _finite(rays),
        "history": history,
        "sessions": sessions,
        "shards": shards,
        "decisions": decision_log[-200:],
        "problems": problems,
        "signature": signature,
    }

