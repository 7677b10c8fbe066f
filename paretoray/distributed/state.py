"""The coordinator's resumable state: a snapshot plus an append-only log, in ``RUN_DIR/state/``.

Status: beta.

A commit appends one small JSON line (O(points offered), never O(rounds so far)); the
snapshot is rewritten only when a session begins or ends (compaction), when the session's
log is kept as ``session-N.jsonl`` -- the per-round history of that session -- and a new
empty log starts. Layout::

    state/
      base.json          preferences, shard ranges, next round per shard, decision counts
      log.jsonl          records of the current session, appended per commit
      session-N.jsonl    the log of session N, kept as it was when the session ended

Records (one JSON object per line, ``kind`` first):

- ``commit``: ``shard``, ``round``, ``accepted``, ``rejected``, ``front_size``,
  ``segment``, ``time`` and the round's engine statistics;
- ``prefs``: ``start``, ``values`` -- rows ``start..`` of the preference matrix replaced;
- ``decision``: ``action``, ``shard``, ``reason``, ``time``.

The state is not the source of truth for what was committed: the archive's manifest is
(a (shard, round) is recorded in the same atomic step as its segment). A lost or torn log
costs at most the latest preference moves; the round numbering is re-derived from the
manifest. A torn last line (a crash mid-append) is ignored. Run directories of earlier
versions kept a single ``state.json``; it is read once and compacted into this layout.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paretoray.archive._fs import atomic_write_json, fsync_dir

STATE_DIR = "state"
BASE_JSON = "base.json"
LOG_JSONL = "log.jsonl"
LEGACY_STATE_JSON = "state.json"
STATE_VERSION = 2


@dataclass
class CoordinatorState:
    """What a coordinator needs to go on, in memory.

    Attributes:
        prefs: A `P x m`-dim array of every member's preference vector.
        shards: ``[start, stop]`` member indices of each shard.
        rounds: The next absolute round of each shard.
        decisions: Count of each idle-rule action over the run.
        sessions: Sessions begun so far.
        open_session: ``[first_round, last_round)`` of the session in progress, or None
            when the last one was closed (a coordinator restarted by Ray mid-session
            reads it to go on with the same session).
    """

    prefs: np.ndarray
    shards: list[list[int]]
    rounds: list[int]
    decisions: dict[str, int] = field(default_factory=dict)
    sessions: int = 0
    open_session: list[int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "prefs": self.prefs.tolist(), "shards": self.shards,
                "rounds": self.rounds, "decisions": self.decisions, "sessions": self.sessions,
                "open_session": self.open_session}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CoordinatorState:
        rounds = data.get("rounds", data.get("round"))  # "round": the state.json of v1
        decisions = data.get("decisions", {})
        if isinstance(decisions, list):  # v1 kept a list of decision records
            counts: dict[str, int] = {}
            for d in decisions:
                counts[d["action"]] = counts.get(d["action"], 0) + 1
            decisions = counts
        return cls(prefs=np.asarray(data["prefs"], dtype=float),
                   shards=[list(map(int, s)) for s in data["shards"]],
                   rounds=[int(r) for r in rounds], decisions=dict(decisions),
                   sessions=int(data.get("sessions", 0)),
                   open_session=data.get("open_session"))

    def apply(self, record: dict[str, Any]) -> None:
        """Replay one log record."""
        kind = record.get("kind")
        if kind == "commit":
            s = int(record["shard"])
            if s < len(self.rounds):
                self.rounds[s] = max(self.rounds[s], int(record["round"]) + 1)
        elif kind == "prefs":
            values = np.asarray(record["values"], dtype=float)
            start = int(record["start"])
            if values.ndim == 2 and start + len(values) <= len(self.prefs):
                self.prefs[start:start + len(values)] = values
        elif kind == "decision":
            action = str(record["action"])
            self.decisions[action] = self.decisions.get(action, 0) + 1


class StateLog:
    """Reads and appends ``RUN_DIR/state/`` (local run directories).

    Args:
        run_dir: The run directory; ``state/`` is created when missing.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / STATE_DIR
        self._fh: Any = None

    # ------------------------------------------------------------------ reading
    def load(self) -> CoordinatorState | None:
        """The snapshot with the current log replayed, or None for a run without state."""
        base = self.dir / BASE_JSON
        if base.exists():
            state = CoordinatorState.from_json(json.loads(base.read_text()))
        elif (self.run_dir / LEGACY_STATE_JSON).exists():
            state = CoordinatorState.from_json(
                json.loads((self.run_dir / LEGACY_STATE_JSON).read_text()))
        else:
            return None
        for record in read_records(self.dir / LOG_JSONL):
            state.apply(record)
        return state

    # ------------------------------------------------------------------ writing
    def append(self, record: dict[str, Any]) -> None:
        """Append one record (a few hundred bytes), handed to the OS but not fsynced: what
        was committed is in the archive's manifest; a record lost in a power cut costs at
        most a preference move, and a torn last line is skipped on reading."""
        if self._fh is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.dir / LOG_JSONL, "a", encoding="utf-8")  # noqa: SIM115
        line = json.dumps(record, allow_nan=False, default=_plain) + "\n"
        self._fh.write(line)
        self._fh.flush()

    def compact(self, state: CoordinatorState, *, session: int | None) -> None:
        """Write the snapshot and start an empty log.

        The current log is kept as ``session-<session>.jsonl`` (or dropped when
        ``session`` is None: a log whose records are already in the snapshot).
        """
        self.close()
        self.dir.mkdir(parents=True, exist_ok=True)
        # one line: a snapshot holds every preference vector, and only unindented JSON
        # takes json's C encoder (P = 4096: 17 -> 7 ms, at every session's start and end)
        atomic_write_json(self.dir / BASE_JSON, state.to_json(), indent=None)
        log = self.dir / LOG_JSONL
        if log.exists():
            if session is not None and log.stat().st_size:
                target = self.dir / f"session-{session}.jsonl"
                if target.exists():  # a second compaction in one session: keep both parts
                    with open(target, "a", encoding="utf-8") as out:
                        out.write(log.read_text())
                    log.unlink()
                else:
                    os.replace(log, target)
            else:
                log.unlink()
            fsync_dir(self.dir)
        legacy = self.run_dir / LEGACY_STATE_JSON
        with contextlib.suppress(FileNotFoundError):
            legacy.unlink()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``.jsonl`` state log; a torn last line is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")
