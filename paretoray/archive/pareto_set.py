"""``ParetoSet``: the user's view of a nondominated set, backed by an Arrow table.

Objectives read in the run's own directions (``directions``: ``"minimize"``/``"maximize"`` per
objective, Optuna's words; all minimized by default); every computation -- dominance, the
hypervolume, decisions -- runs on :attr:`ParetoSet.minimized`, the values times their sign.
A point's ``preference`` means "the minimized objectives should align with this ray" (the
library-wide convention, see ALGORITHMS.md). Decision making
follows pymoo instead, as its users expect: :meth:`ParetoSet.select` takes pseudo-weights
([Deb2001]_, ``pymoo.mcdm.pseudo_weights``: a large weight on an objective asks for a small
value of it) or ASF weights, and :meth:`ParetoSet.knee` asks pymoo for high trade-off points
([Rachmawati2009]_, ``pymoo.mcdm.high_tradeoff``).

.. [Deb2001] K. Deb. Multi-Objective Optimization Using Evolutionary Algorithms. Wiley, 2001,
   section 8.3 (pseudo-weight vector approach).
.. [Rachmawati2009] L. Rachmawati, D. Srinivasan. Multiobjective evolutionary algorithm with
   controllable focus on the knees of the Pareto front. IEEE TEVC 13(4), 2009.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import moocore
import numpy as np
import pyarrow as pa

from paretoray.archive.merge import nondominated_mask
from paretoray.archive.schema import (
    default_objective_names,
    fixed_list,
    front_candidates,
    list_to_numpy,
    objective_names_of,
    objective_signs,
    point_schema,
)
from paretoray.errors import ArchiveError, PreferenceError, ShapeError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl
    from matplotlib.figure import Figure


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


#: Columns of the point schema; any other column of a set is one of its ``metrics``.
_STANDARD = frozenset({"point_id", "round", "shard", "member", "algorithm", "objectives",
                       "preference", "x", "params_ref", "step", "time", "violation"})


@dataclass(frozen=True, eq=False)
class ParetoPoint:
    """One point of a :class:`ParetoSet`: what a decision maker picks.

    Attributes:
        objectives: An `m`-dim array of objective values (in the run's directions), read-only.
        x: A `d`-dim decision vector, or None (networks, or not stored).
        params_ref: The checkpoint file of a network's parameters, or None.
        preference: The `m`-dim preference vector that produced the point.
        point_id: The point's id in the run.
        round: The coordinator round that offered it.
        shard: The worker shard that found it.
        metrics: Further columns of the point (e.g. a network's held-out metrics).
        index: Its row in the set it came from (``front[index]`` is this point).
    """

    objectives: np.ndarray
    x: np.ndarray | None
    params_ref: str | None
    preference: np.ndarray
    point_id: int
    round: int
    shard: int
    metrics: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0

    def __repr__(self) -> str:
        parts = [f"point_id={self.point_id}",
                 f"objectives={np.array2string(self.objectives, precision=4)}"]
        if self.x is not None:
            parts.append(f"x={np.array2string(self.x, precision=4, threshold=6)}")
        if self.params_ref is not None:
            parts.append(f"params_ref={self.params_ref!r}")
        parts += [f"round={self.round}", f"shard={self.shard}"]
        if self.metrics:
            parts.append(f"metrics={dict(self.metrics)}")
        return f"ParetoPoint({', '.join(parts)})"


class ParetoSet:
    """A nondominated set of points with their decisions, preferences and provenance.

    Usually obtained from :func:`paretoray.archive.open` or :meth:`Store.front`. The numpy
    properties are computed once and returned read-only (copy them to modify).

    Args:
        table: Points in the run's Arrow point schema (see :mod:`paretoray.archive.schema`).
        meta: The run's metadata (``run.json``): ``objective_names``, ``ref_point``, ...
        run_dir: Where the points were read from, for ``repr``.

    Example:
        >>> front = ParetoSet.from_arrays(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))
        >>> len(front), front.hypervolume(ref=[2.0, 2.0])
        (2, 3.0)
    """

    def __init__(
        self,
        table: pa.Table,
        *,
        meta: Mapping[str, Any] | None = None,
        run_dir: str | None = None,
    ) -> None:
        self._table = table
        self.meta: dict[str, Any] = dict(meta or {})
        self.run_dir = run_dir
        self.n_obj: int = table.schema.field("objectives").type.list_size
        x_field = table.schema.get_field_index("x")
        self.n_var: int | None = (
            table.schema.field("x").type.list_size if x_field >= 0 else None
        )
        names = self.meta.get("objective_names") or objective_names_of(table.schema)
        self.objective_names: list[str] = (
            [str(n) for n in names] if names and len(names) == self.n_obj
            else default_objective_names(self.n_obj)
        )
        #: ``"minimize"``/``"maximize"`` per objective (run.json's ``directions``).
        self.directions: list[str] = [str(d) for d in self.meta.get("directions")
                                      or ["minimize"] * self.n_obj]
        self._sign = objective_signs(self.directions, self.n_obj)
        self._cache: dict[str, np.ndarray | None] = {}

    @classmethod
    def from_arrays(
        cls,
        objectives: np.ndarray,
        *,
        x: np.ndarray | None = None,
        preferences: np.ndarray | None = None,
        objective_names: Sequence[str] | None = None,
        directions: Sequence[str] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> ParetoSet:
        """Build a ParetoSet from arrays, keeping only their nondominated rows.

        Args:
            objectives: A `k x m`-dim array of objective values.
            x: An optional `k x d`-dim array of decision vectors.
            preferences: An optional `k x m`-dim array (default: NaN).
            objective_names: ``m`` names (default ``f1..fm``).
            directions: ``"minimize"``/``"maximize"`` per objective (default: all minimize).
            meta: Extra metadata, e.g. ``{"ref_point": [...]}``.

        Returns:
            A ParetoSet of the nondominated, unique rows (point ids are row indices).
        """
        obj = np.asarray(objectives, dtype=np.float64)
        if obj.ndim != 2 or obj.shape[1] < 2:
            raise ShapeError(
                f"Expected `objectives` of shape `k x m` with m >= 2; got {obj.shape=}."
            )
        k, m = obj.shape
        if x is not None:
            x = np.asarray(x, dtype=np.float64)
            if x.ndim != 2 or x.shape[0] != k:
                raise ShapeError(f"Expected `x` of shape `{k} x d`; got {x.shape=}.")
        pref = np.full((k, m), np.nan) if preferences is None else np.asarray(preferences, float)
        if pref.shape != (k, m):
            raise ShapeError(f"Expected `preferences` of shape `{k} x {m}`; got {pref.shape=}.")
        names = list(objective_names) if objective_names else default_objective_names(m)
        schema = point_schema(m, None if x is None else x.shape[1], names)
        columns: dict[str, pa.Array] = {
            "point_id": pa.array(np.arange(k, dtype=np.int64)),
            "round": pa.array(np.zeros(k, np.int32)),
            "shard": pa.array(np.zeros(k, np.int32)),
            "member": pa.array(np.arange(k, dtype=np.int32)),
            "algorithm": pa.array([""] * k, pa.string()),
            "objectives": fixed_list(obj),
            "preference": fixed_list(pref),
        }
        if x is not None:
            columns["x"] = fixed_list(x)
        columns["params_ref"] = pa.nulls(k, pa.string())
        columns["step"] = pa.array(np.zeros(k, np.int64))
        columns["time"] = pa.array(np.zeros(k, np.int64)).cast(schema.field("time").type)
        table = pa.Table.from_pydict(columns, schema=schema)
        if directions is not None:
            try:
                sign = objective_signs(directions, m)
            except ValueError as exc:
                raise ShapeError(str(exc)) from None
        else:
            sign = objective_signs((meta or {}).get("directions"), m)
        keep = nondominated_mask(obj * sign) if k else np.zeros(0, bool)
        meta_all = {"objective_names": names, **dict(meta or {})}
        if directions is not None:
            meta_all["directions"] = list(directions)
        return cls(table.filter(pa.array(keep)), meta=meta_all)

    # ------------------------------------------------------------------ arrays
    def _column(self, key: str, column: str, width: int) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = _readonly(list_to_numpy(self._table[column], width))
        value = self._cache[key]
        assert value is not None
        return value

    @property
    def objectives(self) -> np.ndarray:
        """A `k x m`-dim float64 array of objective values, in the run's :attr:`directions`."""
        return self._column("objectives", "objectives", self.n_obj)

    @property
    def minimized(self) -> np.ndarray:
        """A `k x m`-dim float64 array: :attr:`objectives` times their sign (``-1`` for
        objectives to maximize), the form every indicator and decision runs on."""
        if "minimized" not in self._cache:
            self._cache["minimized"] = _readonly(self.objectives * self._sign)
        value = self._cache["minimized"]
        assert value is not None
        return value

    @property
    def preferences(self) -> np.ndarray:
        """A `k x m`-dim float64 array: the preference vector that produced each point."""
        return self._column("preferences", "preference", self.n_obj)

    @property
    def x(self) -> np.ndarray | None:
        """A `k x d`-dim float64 array of decision vectors, or None when the run has none.

        Rows whose decision vector was not stored are NaN.
        """
        if self.n_var is None:
            return None
        if "x" not in self._cache:
            column = self._table["x"]
            self._cache["x"] = (
                None if len(column) and column.null_count == len(column)
                else _readonly(list_to_numpy(column, self.n_var))
            )
        return self._cache["x"]

    @property
    def point_ids(self) -> np.ndarray:
        """A `k`-dim int64 array of the points' ids in the run."""
        return self._ints("point_id")

    def _ints(self, column: str) -> np.ndarray:
        if column not in self._cache:
            values = self._table[column].to_numpy()
            self._cache[column] = _readonly(np.array(values))
        value = self._cache[column]
        assert value is not None
        return value

    @property
    def shards(self) -> np.ndarray:
        """A `k`-dim int32 array: the worker shard that found each point."""
        return self._ints("shard")

    @property
    def rounds(self) -> np.ndarray:
        """A `k`-dim int32 array: the coordinator round in which each point was offered."""
        return self._ints("round")

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """Held-out metrics of a network run: each name of run.json's ``metric_names`` to a
        `k`-dim float64 array (NaN where a row has none); empty for vector runs."""
        names = [n for n in self.meta.get("metric_names") or [] if n in self._table.column_names]
        return {n: _readonly(np.asarray(self._table.column(n).to_numpy(), dtype=np.float64))
                for n in names}

    def load_model(self, i: int, *, problem: Any = None) -> Any:
        """The ``torch.nn.Module`` of point ``i`` (network runs), with its archived weights.

        The architecture comes from ``problem`` (a ``NetworkProblem``) or from run.json
        (a registered problem's name and options, or a ``model_factory`` import path).
        The module is in eval mode.

        Raises:
            ArchiveError: The point has no checkpoint (a vector run, or a point that was not
                in the front when written), its checkpoint was garbage-collected, or the
                architecture cannot be rebuilt.
        """
        from paretoray.archive.checkpoints import load_model

        k = len(self)
        if not -k <= int(i) < k:
            raise IndexError(f"index {int(i)} is out of range for a ParetoSet of {k} points.")
        if self.run_dir is None:
            raise ArchiveError("This ParetoSet was not read from a run directory: no models.")
        ref = self._table.column("params_ref")[int(i) % k].as_py()
        return load_model(self.run_dir, ref, self.meta, problem)

    def __len__(self) -> int:
        return self._table.num_rows

    def __getitem__(self, index: int | slice) -> Any:
        """``front[i]``: the :class:`ParetoPoint` of row ``i`` (negative counts from the end);
        ``front[a:b]``: a ParetoSet of those rows."""
        if isinstance(index, slice):
            rows = np.arange(len(self))[index]
            return ParetoSet(self._table.take(pa.array(rows, pa.int64())), meta=self.meta,
                             run_dir=self.run_dir)
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"ParetoSet indices must be integers or slices; got {index!r}.")
        k = len(self)
        i = int(index) + k if index < 0 else int(index)
        if not 0 <= i < k:
            raise IndexError(f"index {int(index)} is out of range for a ParetoSet of {k} points.")
        x = self.x
        metrics = {name: self._table.column(name)[i].as_py()
                   for name in self._table.column_names if name not in _STANDARD}
        ref = self._table.column("params_ref")[i].as_py()
        return ParetoPoint(
            objectives=_readonly(self.objectives[i].copy()),
            x=None if x is None or np.isnan(x[i]).all() else _readonly(x[i].copy()),
            params_ref=ref,
            preference=_readonly(self.preferences[i].copy()),
            point_id=int(self.point_ids[i]),
            round=int(self.rounds[i]),
            shard=int(self.shards[i]),
            metrics=metrics,
            index=i,
        )

    def __iter__(self) -> Iterator[ParetoPoint]:
        """The points in row order, as :class:`ParetoPoint`."""
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        parts = [f"{len(self)} points", f"m={self.n_obj}"]
        if self.n_var is not None:
            parts.append(f"d={self.n_var}")
        parts.append(f"objectives={self.objective_names}")
        if self.run_dir is not None:
            parts.append(f"run_dir={self.run_dir!r}")
        return f"ParetoSet({', '.join(parts)})"

    # ------------------------------------------------------------------ conversions
    def to_arrow(self) -> pa.Table:
        """The points as a pyarrow Table in the run's point schema (with its metadata)."""
        return self._table

    def to_pandas(self, *, flatten: bool = False) -> pd.DataFrame:
        """The points as a pandas DataFrame.

        Args:
            flatten: False (default): one column per Arrow column, with ``pd.ArrowDtype``
                (fixed-size lists stay lists, no copy). True: ``objectives`` becomes one
                float column per objective (named by ``objective_names``), ``preference``
                columns ``pref_<name>`` and ``x`` columns ``x0 .. x{d-1}``.
        """
        import pandas as pd

        df = self._table.to_pandas(types_mapper=pd.ArrowDtype)
        if not flatten:
            return df
        flat: dict[str, Any] = {}
        for column in df.columns:
            if column == "objectives":
                flat.update(zip(self.objective_names, self.objectives.T, strict=True))
            elif column == "preference":
                flat.update({f"pref_{n}": v for n, v in
                             zip(self.objective_names, self.preferences.T, strict=True)})
            elif column == "x":
                x = self.x
                width = self.n_var or 0
                values = x if x is not None else np.full((len(self), width), np.nan)
                flat.update({f"x{i}": values[:, i] for i in range(width)})
            else:
                flat[column] = df[column]
        return pd.DataFrame(flat, index=df.index)

    def to_polars(self) -> pl.DataFrame:
        """The points as a polars DataFrame (fixed-size lists become ``pl.Array``).

        Raises:
            ImportError: When polars is not installed (``pip install polars``).
        """
        try:
            import polars as pl
        except ImportError as exc:
            raise ImportError(
                "ParetoSet.to_polars() needs polars, which is not installed. Install it with "
                "`pip install polars` (or `pip install paretoray[polars]`)."
            ) from exc
        result = pl.from_arrow(self._table)
        assert isinstance(result, pl.DataFrame)
        return result

    # ------------------------------------------------------------------ indicators
    def default_ref_point(self) -> np.ndarray:
        """The reference point used by :meth:`hypervolume` when none is given.

        The run's ``ref_point`` (``run.json``) if present; otherwise ``1.1 * max`` of each
        objective over the set. For a non-positive maximum ``1.1 * max`` would not be worse
        than the points, so the rule is ``max + 0.1 * |max|`` per axis (equal to ``1.1 * max``
        for positive maxima), with ``0.1 * (max - min)`` (or 1.0) where ``max == 0``. The rule
        runs on :attr:`minimized` values; the point is returned in the run's directions (for
        an objective to maximize: below its worst value).
        Such a default depends on the set itself: compare hypervolumes across runs only with
        a fixed reference point.

        Returns:
            An `m`-dim array.
        """
        ref = self.meta.get("ref_point")
        if ref is not None:
            return np.asarray(ref, dtype=np.float64).reshape(self.n_obj)
        from paretoray.indicators import default_ref_point

        return default_ref_point(self.minimized) * self._sign

    def hypervolume(self, ref: Sequence[float] | np.ndarray | None = None) -> float:
        """The hypervolume dominated by the set and bounded by ``ref`` (moocore).

        Args:
            ref: An `m`-dim reference point in the run's directions (for an objective to
                maximize, a value below every point that counts); default
                :meth:`default_ref_point`. Points that do not strictly dominate it
                contribute nothing.

        Returns:
            The hypervolume (0.0 for an empty set).
        """
        ref_arr = self.default_ref_point() if ref is None else np.asarray(ref, dtype=np.float64)
        if ref_arr.shape != (self.n_obj,):
            raise ShapeError(
                f"Expected `ref` of shape `{self.n_obj}`; got {ref_arr.shape=}. Pass one value "
                "per objective."
            )
        if len(self) == 0:
            return 0.0
        return float(moocore.hypervolume(self.minimized, ref=ref_arr * self._sign))

    # ------------------------------------------------------------------ decisions
    def _normalized(self) -> np.ndarray:
        """A `k x m`-dim array ``(f - ideal) / (nadir - ideal)`` of the :attr:`minimized`
        values over the set (0 at the best value of each objective, 0 where flat)."""
        obj = self.minimized
        ideal, nadir = obj.min(axis=0), obj.max(axis=0)
        span = np.where(nadir > ideal, nadir - ideal, 1.0)
        return (obj - ideal) / span

    def _check_weights(self, weights: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (self.n_obj,):
            raise ShapeError(f"Expected `{name}` of shape `{self.n_obj}` (one per objective "
                             f"{self.objective_names}); got {w.shape=}.")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
            raise PreferenceError(
                f"`{name}` must be finite, nonnegative and not all zero; got {w.tolist()}. "
                "A larger weight asks for a better value of that objective (pymoo's "
                "convention: smaller when minimized, larger when maximized), e.g. [0.8, 0.2] "
                "favours the best f1."
            )
        if len(self) == 0:
            raise IndexError(f"{name} on an empty ParetoSet: there is no point to choose.")
        return w / w.sum()

    def pseudo_weights(self) -> np.ndarray:
        """Each point's pseudo-weights [Deb2001]_, as ``pymoo.mcdm.pseudo_weights`` computes them.

        ``w_i = (nadir_i - f_i) / (nadir_i - ideal_i)`` over the set, normalized to sum to 1
        per point: a point good in objective ``i`` has a large ``w_i``. Axes without spread
        contribute 0.

        Returns:
            A `k x m`-dim array whose rows sum to 1 (a lone point gets equal weights).
        """
        obj = self.minimized
        ideal, nadir = obj.min(axis=0), obj.max(axis=0)
        span = nadir - ideal
        pw = np.divide(nadir - obj, span, out=np.zeros_like(obj), where=span > 0)
        total = pw.sum(axis=1, keepdims=True)
        return np.divide(pw, total, out=np.full_like(pw, 1.0 / self.n_obj), where=total > 0)

    def select(
        self,
        weights: Sequence[float] | np.ndarray,
        *,
        method: Literal["pseudo_weights", "asf", "ray"] = "pseudo_weights",
    ) -> ParetoPoint:
        """The point that best matches the decision maker's weights, pymoo-style.

        ``method="pseudo_weights"`` (default; ``pymoo.mcdm.pseudo_weights``): the point whose
        :meth:`pseudo_weights` are closest (L1) to ``weights / sum(weights)``. ``"asf"``:
        the point minimizing pymoo's achievement scalarization function
        ``max_i (z_i / (1 / w_i))`` on objectives normalized to ``[0, 1]`` by the set's ideal
        and nadir points (``pymoo.decomposition.asf.ASF`` with ``1 / weights``, as pymoo's
        documentation does). In both a larger weight asks for a better value of that
        objective (smaller when minimized, larger when maximized): ``[1, 0]`` picks the
        point with the best ``f1``. ``"ray"``: the point
        whose normalized objectives align best (cosine) with ``weights`` read as a
        preference ray of the search (the library-wide convention, the reverse: ``[1, 0]``
        picks the best ``f2``).

        Args:
            weights: An `m`-dim nonnegative vector, not all zero (any scale).
            method: ``"pseudo_weights"``, ``"asf"`` or ``"ray"``.

        Returns:
            The chosen :class:`ParetoPoint` (``.index`` is its row; ties: the first row).

        Raises:
            ShapeError: ``weights`` does not have one entry per objective.
            PreferenceError: A weight is negative or not finite, or all are zero.
        """
        w = self._check_weights(weights, "weights")
        if method == "pseudo_weights":
            i = int(np.argmin(np.abs(self.pseudo_weights() - w).sum(axis=1)))
        elif method == "asf":
            from pymoo.decomposition.asf import ASF

            inv = np.divide(1.0, w, out=np.full_like(w, np.inf), where=w > 0)
            i = int(np.argmin(ASF().do(self._normalized(), inv)))
        elif method == "ray":
            z = self._normalized()
            norms = np.linalg.norm(z, axis=1) * np.linalg.norm(w)
            cosine = np.divide(z @ w, norms, out=np.zeros(len(z)), where=norms > 0)
            i = int(np.argmax(cosine))
        else:
            raise PreferenceError(f"`method` must be 'pseudo_weights', 'asf' or 'ray'; got "
                                  f"{method!r}.")
        return self[i]

    def knees(self) -> list[ParetoPoint]:
        """High trade-off points [Rachmawati2009]_ (``pymoo.mcdm.high_tradeoff``).

        pymoo's ``HighTradeoffPoints`` runs on objectives normalized to ``[0, 1]`` by the
        set's ideal and nadir points; a point whose least gain per unit of sacrifice towards
        its neighbours is an outlier of the set is a knee.

        Returns:
            The knee points in row order (empty when pymoo finds none, e.g. on a linear
            front, or the set has fewer than 3 points).
        """
        if len(self) < 3:
            return []
        import warnings

        from pymoo.mcdm.high_tradeoff import HighTradeoffPoints

        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # pymoo divides by zero gains on purpose
            found = HighTradeoffPoints().do(self._normalized())
        rows = [] if found is None else sorted(int(i) for i in np.atleast_1d(found))
        return [self[i] for i in rows]

    def knee(self) -> ParetoPoint | None:
        """The knee of the front: among :meth:`knees`, the one nearest the ideal point in
        normalized objectives; None when pymoo finds no knee (then use :meth:`select`)."""
        knees = self.knees()
        if not knees:
            return None
        z = self._normalized()[[p.index for p in knees]]
        return knees[int(np.argmin(np.linalg.norm(z, axis=1)))]

    # ------------------------------------------------------------------ history
    def history(
        self,
        *,
        ref: Sequence[float] | np.ndarray | None = None,
        true_front: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The run's progress per (session, round), recomputed from the archive's segments.

        For each round in increasing order, the points of every round so far are merged
        into a cumulative nondominated set; its hypervolume, IGD and size are reported.
        Needs a set opened from a run directory (:func:`paretoray.open`).

        Args:
            ref: An `m`-dim reference point for the hypervolume in the run's directions;
                default the run's ``ref_point``, else :meth:`default_ref_point` of this set
                (fixed for all rows).
            true_front: An optional `t x m`-dim array of the true front for IGD (in the run's
                directions); default the
                front of the run's registered problem (``run.json``'s ``problem`` and
                ``problem_options``) when it is known, else IGD is NaN.

        Returns:
            A DataFrame with one row per round: ``session`` (1-based, from ``run.json``'s
            ``lineage``), ``round``, ``points`` (points archived so far), ``front_size``,
            ``hypervolume``, ``igd``.

        Raises:
            ArchiveError: When the set was not read from a run directory.
        """
        import moocore
        import pandas as pd

        from paretoray.archive.merge import merge_nondominated
        from paretoray.archive.reader import read_points

        if self.run_dir is None:
            raise ArchiveError("history() needs a ParetoSet read from a run directory "
                               "(paretoray.open(run_dir)); this one was built from arrays.")
        ref_arr = self.default_ref_point() if ref is None else np.asarray(ref, np.float64)
        if ref_arr.shape != (self.n_obj,):
            raise ShapeError(f"Expected `ref` of shape `{self.n_obj}`; got {ref_arr.shape=}.")
        truth = _true_front(self.meta, self.n_obj) if true_front is None else np.asarray(
            true_front, dtype=np.float64)
        points = read_points(self.run_dir)
        # feasible points only, minimized (infeasible ones are archived, never in a front)
        feasible, candidates = front_candidates(points, self.n_obj, self._sign)
        obj = np.full((points.num_rows, self.n_obj), np.nan)  # NaN: an infeasible row
        obj[feasible] = candidates
        ref_arr = ref_arr * self._sign
        truth = None if truth is None else truth * self._sign
        rounds = np.asarray(points["round"].to_numpy(), dtype=np.int64)
        order = np.argsort(rounds, kind="stable")
        values, first = np.unique(rounds[order], return_index=True)
        bounds = [*first.tolist(), len(order)]
        lineage = self.meta.get("lineage")
        starts = sorted({int(s.get("first_round", 0)) for s in lineage if isinstance(s, dict)}
                        ) if isinstance(lineage, list) else []
        front = np.empty((0, self.n_obj))
        rows = []
        for j, rnd in enumerate(values.tolist()):
            here = order[bounds[j]:bounds[j + 1]]
            new = obj[here]
            new = new[~np.isnan(new[:, 0])]  # archived objectives are finite
            keep_front, keep_new = merge_nondominated(front, new)
            front = np.concatenate([front[keep_front], new[keep_new]])
            rows.append({
                "session": max(1, int(np.searchsorted(starts, rnd, side="right"))),
                "round": int(rnd),
                "points": int(bounds[j + 1]),
                "front_size": len(front),
                "hypervolume": float(moocore.hypervolume(front, ref=ref_arr)) if len(front)
                else 0.0,
                "igd": (np.nan if truth is None or not len(front)
                        else float(moocore.igd(front, ref=truth))),
            })
        columns = ["session", "round", "points", "front_size", "hypervolume", "igd"]
        return pd.DataFrame(rows, columns=columns)

    # ------------------------------------------------------------------ plots
    def plot(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        true_front: np.ndarray | None = None,
        title: str | None = None,
        show: bool = True,
        dpi: int = 120,
    ) -> Figure:
        """Plot the set: a 2-D scatter (m = 2), a 3-D scatter (m = 3), or parallel coordinates.

        Args:
            path: Where to save the figure (the format follows the suffix, e.g. ``.png``).
                When None the figure is shown on an interactive backend and returned.
            true_front: An optional `t x m`-dim array of the problem's true front, drawn
                behind the points (e.g. ``problem.pareto_front(200)``).
            title: The figure title (default: the run's problem name and the set's size).
            show: With ``path=None``, whether to call ``plt.show()`` on interactive backends.
            dpi: Resolution of the saved file.

        Returns:
            The matplotlib Figure.
        """
        from paretoray.archive._plot import plot_front

        problem = self.meta.get("problem")
        label = problem.get("name") if isinstance(problem, dict) else problem
        default_title = f"{label + ': ' if label else ''}{len(self)} nondominated points"
        return plot_front(
            self.objectives,
            self.objective_names,
            path=path,
            true_front=true_front,
            title=default_title if title is None else title,
            show=show,
            dpi=dpi,
        )


def _true_front(meta: Mapping[str, Any], n_obj: int, n_points: int = 1000) -> np.ndarray | None:
    """The true front of the run's registered problem (``run.json``), or None if unknown."""
    problem = meta.get("problem")
    name = problem.get("name") if isinstance(problem, Mapping) else problem
    if not isinstance(name, str) or meta.get("custom_problem"):
        return None
    config = meta.get("config") if isinstance(meta.get("config"), Mapping) else {}
    options = meta.get("problem_options") or config.get("problem_options") or {}
    try:
        from paretoray import problems

        prob = problems.get(name, **dict(options))
        if not prob.has_pareto_front or prob.n_obj != n_obj:
            return None
        return np.asarray(prob.pareto_front(n_points).detach().cpu().numpy(), dtype=np.float64)
    except (ImportError, LookupError, TypeError, ValueError, NotImplementedError):
        return None
