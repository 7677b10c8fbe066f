"""File-system helpers: atomic local writes, and reads through any pyarrow filesystem.

Writes follow the one pattern every durable store uses: write a temp file in the same
directory, ``fsync`` it, ``os.replace`` it onto the final name, then ``fsync`` the directory
so the rename itself survives a power cut. A reader therefore never sees half a file.

Reads go through :mod:`pyarrow.fs`, so a run directory can be *read* from any URI pyarrow
understands (``file://``, ``s3://``, ``gs://``, ``hdfs://``). Writing needs a POSIX
filesystem (local disk or a shared mount such as NFS): atomic rename and ``O_EXCL`` lock
files do not exist on object stores.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.fs as pafs

from paretoray.errors import ArchiveError

#: Prefix and suffix of every temp file; the leading dot hides them from pyarrow.dataset.
TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"


def is_uri(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a URI (``scheme://...``) rather than a plain path."""
    return isinstance(location, str) and "://" in location


def local_path(location: str | os.PathLike[str], *, action: str) -> Path:
    """Resolve ``location`` to a local path, accepting ``file://`` URIs.

    Args:
        location: A path or a ``file://`` URI.
        action: What the caller wants to do, for the error message ("write").

    Raises:
        ArchiveError: For any other URI scheme.
    """
    if is_uri(location):
        loc = str(location)
        if loc.startswith("file://"):
            _, path = pafs.FileSystem.from_uri(loc)
            return Path(path)
        raise ArchiveError(
            f"Cannot {action} the run directory {loc!r}: writing needs a POSIX filesystem "
            "(a local disk or a shared mount such as NFS), because the archive relies on "
            "atomic rename and O_EXCL lock files, which object stores lack. Write to a local "
            "or mounted path and copy it; `paretoray.archive.open(uri)` and `verify(uri)` "
            "read any pyarrow filesystem URI."
        )
    return Path(location).expanduser().absolute()


def sha256_hex(data: bytes | memoryview) -> str:
    """The hex sha256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def fsync_dir(path: Path) -> None:
    """``fsync`` a directory so that renames inside it are durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tmp_path_for(path: Path) -> Path:
    """A unique, hidden temp name next to ``path``."""
    return path.with_name(f"{TMP_PREFIX}{path.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


def is_tmp_name(name: str) -> bool:
    """Whether ``name`` is one of our temp files (left behind by a crash)."""
    return name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX)


def atomic_write_bytes(path: Path, data: bytes | memoryview, *, durable: bool = True,
                       sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, fsync directory.

    Args:
        path: The final file name.
        data: The whole content.
        durable: False skips both fsyncs: the rename is still atomic for readers, but after a
            power cut the file may hold zeros. Only for caches validated by a checksum.
        sync_dir: False leaves the directory's fsync to the caller (who writes several
            files into it and fsyncs it once).
    """
    tmp = tmp_path_for(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable and sync_dir:
        fsync_dir(path.parent)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(
        f"Object of type {type(obj).__name__} is not JSON serializable; store plain "
        "numbers, strings, lists and dicts (numpy arrays are converted)."
    )


def dumps_json(obj: Any, *, indent: int | None = 2) -> bytes:
    """Serialize ``obj`` as UTF-8 JSON, indented for people to read unless ``indent`` is
    None (numpy arrays and scalars become lists/numbers). Only ``indent=None`` takes
    json's C encoder: 2-3x faster on long lists of numbers."""
    return (json.dumps(obj, indent=indent, default=_json_default, allow_nan=False)
            + "\n").encode()


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (``indent``: see :func:`dumps_json`)."""
    atomic_write_bytes(path, dumps_json(obj, indent=indent))


class Location:
    """A read-only view of a run directory on any pyarrow filesystem.

    Args:
        location: A local path or a URI that :meth:`pyarrow.fs.FileSystem.from_uri` accepts.
    """

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.display = str(location)
        if is_uri(location):
            try:
                self.fs, self.root = pafs.FileSystem.from_uri(str(location))
            except Exception as exc:
                raise ArchiveError(
                    f"Cannot open {location!r} as a pyarrow filesystem URI: {exc}. "
                    "Pass a local path, or a URI such as file:///abs/path or s3://bucket/run."
                ) from exc
        else:
            self.fs = pafs.LocalFileSystem()
            self.root = str(Path(location).expanduser().absolute())
        self.root = self.root.rstrip("/")

    def path(self, rel: str) -> str:
        """The filesystem path of ``rel`` (a '/'-separated path inside the run directory)."""
        return f"{self.root}/{rel}" if rel else self.root

    def exists(self, rel: str) -> bool:
        """Whether a file or directory exists at ``rel``."""
        return self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound

    def size(self, rel: str) -> int | None:
        """The size in bytes of the file at ``rel``, or None when it is missing."""
        info = self.fs.get_file_info(self.path(rel))
        return None if info.type != pafs.FileType.File else int(info.size)

    def read_bytes(self, rel: str) -> bytes:
        """The whole content of the file at ``rel``."""
        with self.fs.open_input_stream(self.path(rel)) as f:
            return bytes(f.read())

    def list_names(self, rel: str) -> list[str]:
        """The names of the files directly inside directory ``rel`` ([] when it is missing)."""
        selector = pafs.FileSelector(self.path(rel), allow_not_found=True, recursive=False)
        return sorted(
            info.base_name
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        )

    def read_json(self, rel: str) -> Any:
        """Parse the JSON file at ``rel``.

        Raises:
            FileNotFoundError: When it is missing.
            ArchiveError: When it is not valid JSON.
        """
        if not self.exists(rel):
            raise FileNotFoundError(self.path(rel))
        raw = self.read_bytes(rel)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ArchiveError(
                f"{self.path(rel)} is not valid JSON ({exc}). It is written atomically, so "
                "it was edited or damaged outside paretoray; restore it from a backup."
            ) from exc
