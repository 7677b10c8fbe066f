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


def test_select_follows_the_preference_ray() -> None:
    F = np.array([[0.0, 1.0], [0.2, 0.55], [0.5, 0.5], [0.55, 0.2], [1.0, 0.0]])
    front = ParetoSet.from_arrays(F)
    assert len(front) == 5
    assert front.select([1.0, 1.0]) == 2  # the balanced point
    assert front.select([1.0, 0.0]) == 4  # objectives align with the ray: f1 large, f2 small
    assert front.select([0.0, 1.0]) == 0
    assert front.select([1.0, 0.3]) == 3
    with pytest.raises(ShapeError):
        front.select([1.0, 0.0, 0.0])


@pytest.mark.parametrize("m", [2, 3, 5])
def test_plot_writes_png(tmp_path: Path, m: int) -> None:
    front = ParetoSet.from_arrays(_front(m, 25), meta={"problem": "sphere"})
    path = tmp_path / f"front{m}.png"
    fig = front.plot(path, true_front=_front(m, 200, seed=9))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes and "sphere" in fig.texts[0].get_text()
