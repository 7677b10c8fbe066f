"""ParetoSet: arrays, conversions, hypervolume against moocore and pymoo, select, plots."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import moocore
import numpy as np
import pandas as pd
import pytest
from pymoo.indicators.hv import HV

from paretoray.archive import ParetoSet, Store, open
from paretoray.errors import ShapeError

from ._helpers import fill


def _front(m: int, k: int = 30, seed: int = 0) -> np.ndarray:
    rays = np.random.default_rng(seed).random((k, m)) + 0.05
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)  # nondominated (unit sphere)


def test_arrays_and_repr(tmp_path: Path) -> None:
    run = tmp_path / "run"
    F = _front(2, 10)
    with Store.create(run, n_obj=2, n_var=4, meta={"objective_names": ["err", "cost"]}) as s:
        fill(s, [F[:5], F[5:]], d=4, shards=2)
    front = open(run)
    assert len(front) == 10
    assert front.objectives.shape == (10, 2) and front.preferences.shape == (10, 2)
    assert front.x.shape == (10, 4)
    assert front.point_ids.tolist() == list(range(10))
    assert front.shards.tolist() == [0] * 5 + [1] * 5
    assert front.rounds.tolist() == [0] * 10
    assert not front.objectives.flags.writeable
    text = repr(front)
    assert "10 points" in text and "m=2" in text and "d=4" in text and "'err'" in text
    assert str(run) in text


def test_to_pandas_and_flatten() -> None:
    F = _front(3, 6)
    front = ParetoSet.from_arrays(F, x=np.arange(12.0).reshape(6, 2),
                                  objective_names=["a", "b", "c"])
    df = front.to_pandas()
    assert isinstance(df["objectives"].dtype, pd.ArrowDtype)
    assert len(df) == 6
    flat = front.to_pandas(flatten=True)
    assert {"a", "b", "c", "pref_a", "x0", "x1", "point_id"} <= set(flat.columns)
    np.testing.assert_array_equal(flat[["a", "b", "c"]].to_numpy(), front.objectives)
    assert front.to_arrow().num_rows == 6


def test_to_polars() -> None:
    pl = pytest.importorskip("polars")
    front = ParetoSet.from_arrays(_front(2, 5))
    df = front.to_polars()
    assert isinstance(df, pl.DataFrame) and df.height == 5
    assert df.schema["objectives"] == pl.Array(pl.Float64, 2)


def test_to_polars_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_polars(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "polars" or name.startswith("polars."):
            raise ImportError("No module named 'polars'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_polars)
    with pytest.raises(ImportError, match="pip install polars"):
        ParetoSet.from_arrays(_front(2, 3)).to_polars()


@pytest.mark.parametrize("m", [2, 3, 4])
def test_hypervolume_matches_moocore_and_pymoo(m: int) -> None:
    F = _front(m, 40, seed=m)
    ref = np.full(m, 1.2)
    front = ParetoSet.from_arrays(F)
    hv = front.hypervolume(ref)
    assert hv == pytest.approx(moocore.hypervolume(F, ref=ref), rel=1e-12)
    assert hv == pytest.approx(HV(ref_point=ref)(F), rel=1e-9)
    # default ref: the run's ref_point, else 1.1 * max per axis
    assert ParetoSet.from_arrays(F, meta={"ref_point": ref}).hypervolume() == hv
    np.testing.assert_allclose(front.default_ref_point(), 1.1 * F.max(axis=0))
    assert front.hypervolume() == pytest.approx(moocore.hypervolume(F, ref=1.1 * F.max(0)))
    with pytest.raises(ShapeError, match="one value per objective"):
        front.hypervolume([1.0])


def test_hypervolume_simple_and_empty() -> None:
    front = ParetoSet.from_arrays(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))
    assert len(front) == 2
    assert front.hypervolume([2.0, 2.0]) == pytest.approx(3.0)
    empty = ParetoSet.from_arrays(np.empty((0, 2)))
    assert empty.hypervolume([1.0, 1.0]) == 0.0
    neg = ParetoSet.from_arrays(np.array([[-2.0, -1.0], [-1.0, -2.0]]))
    assert np.all(neg.default_ref_point() > neg.objectives.max(axis=0))


def test_select_ray_follows_the_preference_ray() -> None:
    F = np.array([[0.0, 1.0], [0.2, 0.55], [0.5, 0.5], [0.55, 0.2], [1.0, 0.0]])
    front = ParetoSet.from_arrays(F)
    assert len(front) == 5
    assert front.select([1.0, 1.0], method="ray").index == 2  # the balanced point
    assert front.select([1.0, 0.0], method="ray").index == 4  # aligned: f1 large, f2 small
    assert front.select([0.0, 1.0], method="ray").index == 0
    assert front.select([1.0, 0.3], method="ray").index == 3
    with pytest.raises(ShapeError):
        front.select([1.0, 0.0, 0.0])


@pytest.mark.parametrize("m", [2, 3, 4])
def test_select_matches_pymoo_pseudo_weights(m: int) -> None:
    from pymoo.mcdm.pseudo_weights import PseudoWeights

    rng = np.random.default_rng(m)
    for trial in range(20):
        F = _front(m, 40, seed=100 * m + trial)
        front = ParetoSet.from_arrays(F)
        w = rng.dirichlet(np.ones(m))
        want, want_pw = PseudoWeights(w).do(F, return_pseudo_weights=True)
        point = front.select(w)
        np.testing.assert_allclose(front.pseudo_weights(), want_pw, rtol=1e-12)
        np.testing.assert_array_equal(point.objectives, F[want])
        assert front.select(3.0 * w).index == point.index  # any scale


def test_select_convention_is_pymoos() -> None:
    F = np.array([[0.0, 1.0], [0.2, 0.55], [0.5, 0.5], [0.55, 0.2], [1.0, 0.0]])
    front = ParetoSet.from_arrays(F, x=np.arange(10.0).reshape(5, 2))
    first = front.select([1, 0])  # all weight on f1: the smallest f1
    assert first.objectives.tolist() == [0.0, 1.0] and first.x.tolist() == [0.0, 1.0]
    assert front.select([0, 1]).objectives.tolist() == [1.0, 0.0]
    assert front.select([1, 0], method="asf").objectives.tolist() == [0.0, 1.0]
    assert front.select([0, 1], method="asf").objectives.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("m", [2, 3])
def test_select_asf_is_the_min_max_of_weighted_normalized_objectives(m: int) -> None:
    rng = np.random.default_rng(7)
    for trial in range(10):
        F = _front(m, 30, seed=trial) * rng.uniform(0.5, 5.0, m)  # unequal scales
        front = ParetoSet.from_arrays(F)
        w = rng.dirichlet(np.ones(m))
        z = (F - F.min(0)) / (F.max(0) - F.min(0))
        want = int(np.argmin((z * (w / w.sum())).max(axis=1)))  # Wierzbicki's ASF, by hand
        assert front.select(w, method="asf").index == want


@pytest.mark.parametrize("weights", [[-1, 2], [np.nan, 1], [np.inf, 1], [0, 0]])
def test_select_refuses_bad_weights(weights: list[float]) -> None:
    from paretoray.errors import PreferenceError

    front = ParetoSet.from_arrays(_front(2, 10))
    with pytest.raises(PreferenceError, match="nonnegative") as err:
        front.select(weights)
    assert str(weights[0]) in str(err.value) or "0" in str(err.value)
    with pytest.raises(PreferenceError, match="method"):
        front.select([1, 1], method="topsis")  # type: ignore[arg-type]


def test_knee_is_pymoos_high_tradeoff_point() -> None:
    from pymoo.mcdm.high_tradeoff import HighTradeoffPoints

    # Two straight pieces meeting at (0.1, 0.1): a sharp knee.
    t = np.linspace(0.0, 1.0, 21)
    F = np.concatenate([np.stack([0.1 * t, 1.0 - 0.9 * t], 1),
                        np.stack([0.1 + 0.9 * t[1:], 0.1 - 0.1 * t[1:]], 1)])
    front = ParetoSet.from_arrays(F)
    knee = front.knee()
    assert knee is not None
    np.testing.assert_allclose(knee.objectives, [0.1, 0.1])
    z = (F - F.min(0)) / (F.max(0) - F.min(0))
    expected = sorted(int(i) for i in np.atleast_1d(HighTradeoffPoints().do(z)))
    assert [p.index for p in front.knees()] == expected
    assert ParetoSet.from_arrays(F[:2]).knee() is None


def test_points_are_indexable_and_iterable(tmp_path: Path) -> None:
    run = tmp_path / "run"
    F = _front(2, 6)
    X = np.arange(18.0).reshape(6, 3)
    R = np.random.default_rng(0).dirichlet([1, 1], 6)
    with Store.create(run, n_obj=2, n_var=3) as store:
        store.append(F, preference=R, x=X, round=2, shard=1, member=np.arange(6),
                     algorithm="epo", step=5)
    front = open(run)
    table = front.to_arrow()
    last = front[-1]
    assert last.index == 5 and last.point_id == table["point_id"][5].as_py()
    np.testing.assert_array_equal(last.objectives, table["objectives"][5].as_py())
    np.testing.assert_array_equal(last.x, X[last.point_id])
    np.testing.assert_array_equal(last.preference, R[last.point_id])
    assert (last.round, last.shard, last.params_ref, dict(last.metrics)) == (2, 1, None, {})
    assert not last.objectives.flags.writeable
    assert [p.point_id for p in front] == table["point_id"].to_pylist()
    assert len(front[1:4]) == 3 and front[1:4][0].point_id == front[1].point_id
    with pytest.raises(IndexError, match="out of range"):
        front[6]
    with pytest.raises(TypeError):
        front["objectives"]  # type: ignore[index]
    assert "point_id=" in repr(last)


def test_history_per_round_against_moocore(tmp_path: Path) -> None:
    import pyarrow as pa

    from paretoray.archive import segment_paths
    from paretoray.problems import get

    run = tmp_path / "run"
    rng = np.random.default_rng(3)
    with Store.create(run, n_obj=2, n_var=3, meta={"problem": "zdt1",
                                                   "ref_point": [1.1, 1.1]}) as store:
        for r in range(6):
            for shard in range(2):
                f1 = rng.random(8)
                F = np.stack([f1, 1 - np.sqrt(f1) + rng.uniform(0.3, 1.0) / (r + 1)], 1)
                store.append(F, preference=[0.5, 0.5], x=rng.random((8, 3)), round=r,
                             shard=shard, member=np.arange(8), algorithm="epo", step=r)
        store.update_meta(lineage=[{"session": 1, "first_round": 0},
                                   {"session": 2, "first_round": 4}])
    hist = open(run).history()
    assert hist["round"].tolist() == list(range(6))
    assert hist["session"].tolist() == [1, 1, 1, 1, 2, 2]

    # Independent: every row read back with pyarrow, moocore on all points so far.
    with pa.ipc.open_file(segment_paths(run)[0]) as f:
        schema = f.schema
    rows = pa.concat_tables([pa.ipc.open_file(p).read_all() for p in segment_paths(run)])
    assert rows.schema.equals(schema, check_metadata=False)
    obj = np.stack(rows["objectives"].to_numpy(zero_copy_only=False))
    rnd = rows["round"].to_numpy()
    truth = get("zdt1").pareto_front(1000).numpy()
    for r in range(6):
        upto = obj[rnd <= r]
        assert hist.loc[r, "points"] == len(upto)
        assert hist.loc[r, "hypervolume"] == pytest.approx(
            moocore.hypervolume(upto, ref=[1.1, 1.1]), rel=1e-12)
        nd = upto[moocore.is_nondominated(upto)]
        assert hist.loc[r, "front_size"] == len(np.unique(nd, axis=0))
        assert hist.loc[r, "igd"] == pytest.approx(moocore.igd(nd, ref=truth), rel=1e-9)
    assert hist["hypervolume"].is_monotonic_increasing
    with pytest.raises(Exception, match="run directory"):
        ParetoSet.from_arrays(_front(2)).history()


@pytest.mark.parametrize("m", [2, 3, 5])
def test_plot_writes_png(tmp_path: Path, m: int) -> None:
    front = ParetoSet.from_arrays(_front(m, 25), meta={"problem": "sphere"})
    path = tmp_path / f"front{m}.png"
    fig = front.plot(path, true_front=_front(m, 200, seed=9))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes and "sphere" in fig.texts[0].get_text()
