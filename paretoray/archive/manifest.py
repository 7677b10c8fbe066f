"""Names inside the run directory, and ``archive/manifest.json``.

The manifest is the commit log: a segment exists for readers once, and only once, the
manifest that lists it has replaced the previous one. It records, per segment, its row
count, size and sha256, and for ``front.arrow`` its checksum and which segments it covers
(``covers_through``: the last segment merged; ``excluded``: segments that were corrupt
when it was built). Since schema version 2 each segment entry also records the ``(shard,
round)`` it commits, in the same atomic step as the segment, so a replayed round is
recognized from the manifest alone; and segments live in ``archive/segments/`` so that
``archive/*.arrow`` means the front only. Older manifests (no ``segment_dir``) keep their
segments in ``archive/`` and are read as they are.

Every name the manifest lists is checked to be a plain ``seg-NNNNNN.arrow`` before any file
is opened, so a crafted manifest cannot make a reader open a file outside the run directory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

from paretoray.archive.schema import SCHEMA_VERSION
from paretoray.errors import ArchiveError

RUN_JSON = "run.json"
STATE_JSON = "state.json"
ARCHIVE_DIR = "archive"
MANIFEST_JSON = "manifest.json"
MANIFEST_LOG = "manifest.log"
FRONT_ARROW = "front.arrow"
#: Folder of the segments inside ``archive/`` (schema version 2 on; version 1 used ``archive/``).
SEGMENT_DIR = "segments"
#: Folder inside ``archive/`` where unlisted segments are kept (see ``Store.open``).
QUARANTINE_DIR = "quarantine"
RUN_FORMAT = "paretoray.run"
MANIFEST_FORMAT = "paretoray.archive.manifest"

_SEGMENT_RE = re.compile(r"^seg-(\d{6,})\.arrow$")


def segment_name(number: int) -> str:
    """The file name of segment ``number`` (1-based): ``seg-000001.arrow``."""
    return f"seg-{number:06d}.arrow"


def segment_number(name: str) -> int | None:
    """The number of a segment file name, or None if ``name`` is not one."""
    match = _SEGMENT_RE.fullmatch(name)
    return int(match.group(1)) if match else None


def check_segment_name(name: Any, *, where: str) -> str:
    """Return ``name`` if it is a plain ``seg-NNNNNN.arrow``; else raise naming it.

    Raises:
        ArchiveError: For anything else (``../x``, absolute paths, separators, other files).
    """
    if not isinstance(name, str) or segment_number(name) is None:
        raise ArchiveError(
            f"{where} lists a segment named {name!r}, which is not a plain "
            "'seg-NNNNNN.arrow' file name; paretoray reads only segment files inside the run "
            "directory's archive. The manifest was edited outside paretoray: restore it "
            "from a backup, or remove that entry."
        )
    return name


@dataclass(frozen=True)
class SegmentEntry:
    """One committed segment.

    Attributes:
        name: File name inside ``archive/``.
        rows: Number of points.
        bytes: File size.
        sha256: Hex sha256 of the whole file.
        first_point_id: Smallest point id in the segment.
        last_point_id: Largest point id in the segment.
        min_round: Smallest ``round`` value in the segment.
        max_round: Largest ``round`` value in the segment.
        created: When it was committed (ISO 8601, UTC).
        shard: The worker shard whose round this segment commits, or None (older manifests,
            or an append that mixed shards).
        round: The coordinator round this segment commits, or None (as for ``shard``).
        rejected: Rows dropped by the append because an objective was not finite.
        accepted: How many of its points entered the front when it was committed (None:
            not recorded, older manifests).
        front_size: Size of the front right after it was committed (None: not recorded).
    """

    name: str
    rows: int
    bytes: int
    sha256: str
    first_point_id: int
    last_point_id: int
    min_round: int
    max_round: int
    created: str = ""
    shard: int | None = None
    round: int | None = None
    rejected: int = 0
    accepted: int | None = None
    front_size: int | None = None

    @property
    def key(self) -> tuple[int, int] | None:
        """``(shard, round)`` when both are recorded, else None."""
        return None if self.shard is None or self.round is None else (self.shard, self.round)


@dataclass(frozen=True)
class FrontEntry:
    """The compacted front, ``archive/front.arrow``.

    Attributes:
        rows: Number of points in the front.
        bytes: File size.
        sha256: Hex sha256 of the whole file.
        covers_through: Name of the last segment merged into it (None: no segment yet).
        excluded: Segments up to ``covers_through`` that were skipped as corrupt.
        created: When it was written (ISO 8601, UTC).
    """

    rows: int
    bytes: int
    sha256: str
    covers_through: str | None
    excluded: tuple[str, ...] = ()
    created: str = ""


@dataclass
class Manifest:
    """The content of ``archive/manifest.json``.

    Attributes:
        next_point_id: The id the next appended point gets.
        segments: Committed segments, in commit order.
        front: The compacted front, or None when none was written yet.
        segment_dir: Folder of the segments inside ``archive/``: ``"segments"``, or ``""``
            for run directories written before schema version 2 (segments in ``archive/``).
    """

    next_point_id: int = 0
    segments: list[SegmentEntry] = field(default_factory=list)
    front: FrontEntry | None = None
    segment_dir: str = SEGMENT_DIR

    @property
    def segment_folder(self) -> str:
        """The folder of the segments relative to the run directory."""
        return f"{ARCHIVE_DIR}/{self.segment_dir}" if self.segment_dir else ARCHIVE_DIR

    def segment_rel(self, name: str) -> str:
        """The path of segment ``name`` relative to the run directory."""
        return f"{self.segment_folder}/{name}"

    @property
    def next_segment_number(self) -> int:
        """The number of the next segment to write."""
        numbers = [segment_number(s.name) or 0 for s in self.segments]
        return max(numbers, default=0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "next_point_id": self.next_point_id,
            "segment_dir": self.segment_dir,
            "segments": [_plain(s) for s in self.segments],
            "front": None if self.front is None else {
                **_plain(self.front), "excluded": list(self.front.excluded)
            },
        }

    def to_json(self) -> bytes:
        """``manifest.json``'s bytes: a key per line, a segment per line.

        Each line goes through json's C encoder (indenting the whole document takes the
        pure-Python one: ~20 ms for 200 segments, at every compaction).
        """
        data = self.to_dict()
        segments = data.pop("segments")
        lines = [f"  {json.dumps(k)}: {_dumps(v)}" for k, v in data.items()]
        rows = ",\n".join(f"    {_dumps(s)}" for s in segments)
        lines.append(f'  "segments": [\n{rows}\n  ]' if segments else '  "segments": []')
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode()

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> Manifest:
        """Parse a manifest, raising :class:`ArchiveError` naming ``where`` when malformed."""
        try:
            if data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, expected {MANIFEST_FORMAT!r}")
            version = int(data.get("schema_version", 0))
            if version > SCHEMA_VERSION:
                raise ArchiveError(
                    f"{where} has schema version {version}, newer than this paretoray "
                    f"understands ({SCHEMA_VERSION}). Upgrade paretoray to read it."
                )
            segment_dir = data.get("segment_dir", "")
            if segment_dir not in ("", SEGMENT_DIR):
                raise ArchiveError(
                    f"{where} names segment_dir={segment_dir!r}; only {SEGMENT_DIR!r} (or none, "
                    "for older runs) is allowed. Restore the manifest from a backup."
                )
            for s in data["segments"]:
                check_segment_name(s.get("name"), where=where)
            segments = [SegmentEntry(**s) for s in data["segments"]]
            front_raw = data.get("front")
            front = None
            if front_raw is not None:
                excluded = tuple(front_raw.get("excluded", ()))
                covers = front_raw.get("covers_through")
                for name in (*excluded, *([] if covers is None else [covers])):
                    check_segment_name(name, where=where)
                front = FrontEntry(**{**front_raw, "excluded": excluded})
            return cls(int(data["next_point_id"]), segments, front, segment_dir)
        except ArchiveError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(
                f"{where} is malformed ({exc}). It is replaced atomically, so it was edited or "
                "damaged outside paretoray; restore it from a backup."
            ) from exc


def _plain(entry: SegmentEntry | FrontEntry) -> dict[str, Any]:
    """An entry's fields as a dict (``dataclasses.asdict`` deep-copies every value:
    ~0.25 ms an entry, once per commit and per entry at every compaction)."""
    return {f.name: getattr(entry, f.name) for f in fields(entry)}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), allow_nan=False)


# ---------------------------------------------------------------------- the journal
def journal_line(entry: SegmentEntry, next_point_id: int) -> bytes:
    """One ``archive/manifest.log`` line committing ``entry`` (UTF-8 JSON and a newline)."""
    import json

    return (json.dumps({"segment": _plain(entry), "next_point_id": int(next_point_id)},
                       separators=(",", ":"), allow_nan=False) + "\n").encode()


def apply_journal(manifest: Manifest, data: bytes, *, where: str) -> Manifest:
    """``manifest`` with the entries of ``archive/manifest.log`` appended.

    Between two compactions a writer commits a segment by appending one line to the
    journal (fsynced) instead of rewriting ``manifest.json``, so a commit costs O(1) bytes
    whatever the number of segments. A line that does not parse is the commit in flight
    when a writer died (at most the last one): it is skipped, and its segment is an orphan.
    Entries already in ``manifest.json`` (a compaction that died before it truncated the
    journal) are not repeated.
    """
    import json

    known = {s.name for s in manifest.segments}
    segments = list(manifest.segments)
    next_id = manifest.next_point_id
    for raw in data.splitlines():
        try:
            record = json.loads(raw)
            entry = SegmentEntry(**record["segment"])
            next_point_id = int(record["next_point_id"])
        except (ValueError, TypeError, KeyError):
            continue
        check_segment_name(entry.name, where=where)
        if entry.name in known:
            continue
        known.add(entry.name)
        segments.append(entry)
        next_id = max(next_id, next_point_id)
    return Manifest(next_point_id=next_id, segments=segments, front=manifest.front,
                    segment_dir=manifest.segment_dir)
