"""Network checkpoints of archived points: one safetensors file per point, no pickles.

Layout: ``RUN_DIR/checkpoints/<point_id, 12 digits>.safetensors``, holding one member's
parameters and buffers keyed like its module's ``state_dict`` (no member dimension). A
row's ``params_ref`` column holds the path relative to the run directory
(``checkpoints/000000000042.safetensors``).

Protocol (the store's side, see :meth:`paretoray.archive.Store.append`):

1. the checkpoints of the rows that enter the front are written -- temp file, fsync,
   rename, directory fsync -- BEFORE the segment and the manifest that refer to them, so a
   crash never leaves a committed row whose checkpoint is missing (a crash before the
   manifest leaves files that no committed row refers to; the next append of those point
   ids replaces them and garbage collection removes the rest);
2. rows that do not enter the front get a null ``params_ref``: a dominated model is never
   loaded, so it is never written;
3. after a manifest commit that compacts the front, :func:`collect_garbage` deletes every
   checkpoint the new front does not refer to (points that left the front). Old segment
   rows keep their ``params_ref``; :func:`read_checkpoint` names such a collected file.

Rebuilding a model (:func:`load_model`) needs its architecture: a :class:`NetworkProblem`
given by the caller, or the one ``run.json`` names (``problem`` + ``problem_options`` of a
registered problem, or ``model_factory``, an import path ``package.module:factory``);
:func:`network_meta` writes those keys.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paretoray.archive._fs import atomic_write_bytes
from paretoray.errors import ArchiveError, ShapeError

if TYPE_CHECKING:
    from torch import nn

    from paretoray.problems.networks import NetworkProblem

__all__ = [
    "CHECKPOINT_DIR",
    "checkpoint_ref",
    "collect_garbage",
    "load_model",
    "network_meta",
    "read_checkpoint",
    "write_checkpoints",
]

CHECKPOINT_DIR = "checkpoints"
_SUFFIX = ".safetensors"


def checkpoint_ref(point_id: int) -> str:
    """The ``params_ref`` of point ``point_id``: a path relative to the run directory."""
    return f"{CHECKPOINT_DIR}/{int(point_id):012d}{_SUFFIX}"


def _as_arrays(params: Mapping[str, Any], k: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, value in params.items():
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        if arr.ndim == 0 or arr.shape[0] != k:
            raise ShapeError(
                f"Expected `params[{name!r}]` with {k} rows (`k x ...`, one per point); got "
                f"shape {arr.shape}."
            )
        out[str(name)] = arr
    return out


def write_checkpoints(
    run_dir: str | os.PathLike[str], point_ids: Iterable[int], params: Mapping[str, Any],
    rows: np.ndarray,
) -> list[str]:
    """Write one durable safetensors file per selected row; returns their ``params_ref``.

    Args:
        run_dir: The run directory.
        point_ids: The ids of the selected rows, in order.
        params: Parameter/buffer names to `k x ...`-dim arrays or tensors (all offered rows).
        rows: The `j`-dim int array of rows of ``params`` to write, aligned with ``point_ids``.

    Returns:
        The `j` relative paths written, in order.
    """
    from safetensors.numpy import save

    ids = [int(i) for i in point_ids]
    rows = np.asarray(rows, dtype=np.int64)
    if len(ids) != len(rows):
        raise ShapeError(f"{len(ids)} point ids for {len(rows)} rows.")
    if not params:
        raise ShapeError("`params` is empty: give every parameter of the model.")
    k = len(next(iter(params.values())))
    arrays = _as_arrays(params, k)
    folder = Path(run_dir) / CHECKPOINT_DIR
    folder.mkdir(exist_ok=True)
    refs = []
    for pid, row in zip(ids, rows, strict=True):  # one file per point that entered the front
        tensors = {n: np.ascontiguousarray(a[row]) for n, a in arrays.items()}
        data = save(tensors, metadata={"format": "paretoray.checkpoint.v1",
                                       "point_id": str(pid)})
        ref = checkpoint_ref(pid)
        atomic_write_bytes(Path(run_dir) / ref, data)
        refs.append(ref)
    return refs


def read_checkpoint(run_dir: str | os.PathLike[str], ref: str) -> dict[str, np.ndarray]:
    """The arrays of one checkpoint (names to arrays without a member dimension).

    Raises:
        ArchiveError: The file is missing (garbage-collected when its point left the front)
            or unreadable.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(run_dir) / ref
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArchiveError(
            f"Checkpoint {ref!r} is missing from {run_dir}: its point left the front and its "
            "checkpoint was garbage-collected (only points of the current front keep theirs)."
        ) from None
    try:
        return load(data)
    except (SafetensorError, ValueError) as exc:
        raise ArchiveError(f"Checkpoint {path} is not a readable safetensors file: {exc}") from exc


def collect_garbage(run_dir: str | os.PathLike[str], keep: Iterable[str | None]) -> int:
    """Delete the checkpoints (and leftover temp files) that ``keep`` does not name.

    Call only after a manifest commit whose front is ``keep``'s source.

    Args:
        run_dir: The run directory.
        keep: The ``params_ref`` values still referred to (None entries are ignored).

    Returns:
        The number of files deleted.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return 0
    wanted = {os.path.basename(r) for r in keep if r}
    removed = 0
    for entry in os.scandir(folder):
        if entry.is_file() and entry.name not in wanted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed


def network_meta(problem: NetworkProblem) -> dict[str, Any]:
    """The ``run.json`` keys a network run needs to rebuild its models and read metrics.

    ``problem`` and ``problem_options`` (registered problems), ``model_factory`` (an import
    path, when the problem was built from one), ``metric_names``, ``objective_names`` and
    ``ref_point``. Pass them as ``Store.create(..., meta=network_meta(problem))``.
    """
    return {
        "problem": problem.name or None,
        "problem_options": dict(getattr(problem, "options", {}) or {}),
        "model_factory": problem.model_path,
        "metric_names": list(problem.metric_names),
        "objective_names": list(problem.objective_names),
        "ref_point": None if problem.ref_point is None else list(problem.ref_point),
    }


def _problem_from_meta(meta: Mapping[str, Any]) -> NetworkProblem | None:
    from paretoray import problems

    name = meta.get("problem")
    if not isinstance(name, str) or (":" not in name and name not in problems.REGISTRY):
        return None  # (a "package.module:factory" name is rebuilt from its import path)
    options = meta.get("problem_options")
    if options is None:
        options = (meta.get("config") or {}).get("problem_options") or {}
    prob = problems.get(name, **options)
    return prob if getattr(type(prob), "is_network", False) else None


def load_model(
    run_dir: str | os.PathLike[str], ref: str | None, meta: Mapping[str, Any],
    problem: NetworkProblem | None = None,
) -> nn.Module:
    """The module of one archived point, in eval mode, holding its checkpoint's weights.

    Args:
        run_dir: The run directory.
        ref: The point's ``params_ref``.
        meta: The run's ``run.json``.
        problem: The network problem (skips rebuilding it from ``meta``).

    Raises:
        ArchiveError: No checkpoint for this point, or no way to rebuild its architecture.
    """
    import torch

    if ref is None:
        raise ArchiveError(
            "This point has no checkpoint (`params_ref` is null): only network runs store "
            "models, and only for points that entered the front."
        )
    arrays = read_checkpoint(run_dir, ref)
    state = {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}
    if problem is not None:
        return problem.build_model(state)
    prob = _problem_from_meta(meta)
    if prob is not None:
        return prob.build_model(state)
    path = meta.get("model_factory")
    if isinstance(path, str):
        from paretoray.problems.networks import resolve_factory

        module = resolve_factory(path)()
        floating = [v for v in state.values() if v.dtype.is_floating_point]
        if floating:
            module = module.to(floating[0].dtype)
        module.load_state_dict(state)
        return module.eval()
    raise ArchiveError(
        f"run.json of {run_dir} names no registered network problem (problem="
        f"{meta.get('problem')!r}) and no `model_factory`: pass the problem, "
        "`front.load_model(i, problem=...)`."
    )
