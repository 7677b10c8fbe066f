"""``directions=[..., "maximize"]`` end to end: a search whose problem maximizes an objective.

Outside truth: the same search on the minimized problem (ZDT1 itself), from the same seed,
takes the same steps; the maximized run must hold exactly the negated values, and its
hypervolume at the flipped reference point must equal ZDT1's.
"""

from __future__ import annotations

import json
from pathlib import Path

import moocore
import numpy as np
import pyarrow as pa
import pytest
import torch

import paretoray
from paretoray.errors import ConfigError
from paretoray.problems import get

ZDT1 = get("zdt1", n_var=6)


class ZDT1MaxMinusF2(type(ZDT1)):  # type: ignore[misc]
    """ZDT1 (same box and projection) with its second objective negated, to maximize."""

    name = "zdt1_max_minus_f2"
    ref_point = None

    def _evaluate(self, x: torch.Tensor) -> torch.Tensor:
        F = super()._evaluate(x)
        return torch.stack([F[:, 0], -F[:, 1]], dim=1)

    def pareto_front(self, n_points: int = 100) -> torch.Tensor:
        return super().pareto_front(n_points) * torch.tensor([1.0, -1.0])


MAXIMIZING = ZDT1MaxMinusF2(n_var=6)
SETTINGS = {"algorithm": "tchebycheff", "population": 12, "steps": 120,
            "steps_per_round": 40, "workers": 0, "seed": 3, "progress": False}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, paretoray.ParetoSet,
                                                            paretoray.ParetoSet]:
    root = tmp_path_factory.mktemp("directions")
    plain = paretoray.search(ZDT1, run_dir=str(root / "plain"), ref_point=[1.1, 1.1],
                             **SETTINGS)
    flipped = paretoray.search(MAXIMIZING, run_dir=str(root / "max"),
                               directions=["minimize", "maximize"], ref_point=[1.1, -1.1],
                               objective_names=["f1", "minus_f2"], **SETTINGS)
    return root, plain, flipped


def test_maximized_run_holds_the_negated_values(pair: tuple) -> None:
    root, plain, flipped = pair
    assert len(plain) > 3 and len(flipped) == len(plain)
    order_p = np.lexsort(plain.objectives.T[::-1])
    order_f = np.lexsort((flipped.objectives * [1, -1]).T[::-1])
    assert np.allclose(flipped.objectives[order_f] * [1, -1], plain.objectives[order_p],
                       rtol=0, atol=1e-12)
    assert (flipped.objectives[:, 1] <= 0).all()
    # the segments on disk speak the user's directions too
    points = paretoray.archive.read_points(str(root / "max"))
    stored = np.stack(points["objectives"].to_numpy(zero_copy_only=False))
    assert (stored[:, 1] <= 0).all()
    meta = json.loads((root / "max" / "run.json").read_text())
    assert meta["directions"] == ["minimize", "maximize"]
    assert meta["ref_point"] == [1.1, -1.1]


def test_hypervolume_history_and_selection_in_user_directions(pair: tuple) -> None:
    root, plain, _ = pair
    reread = paretoray.open(str(root / "max"))
    expected = moocore.hypervolume(plain.objectives, ref=np.array([1.1, 1.1]))
    assert reread.hypervolume() == pytest.approx(expected, rel=1e-12)
    history = reread.history()
    assert history["hypervolume"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    # IGD against the problem's own true front (in its directions) equals ZDT1's
    truth = MAXIMIZING.pareto_front(500).numpy()
    igd = reread.history(true_front=truth)["igd"].iloc[-1]
    assert igd == pytest.approx(
        moocore.igd(plain.objectives, ref=ZDT1.pareto_front(500).numpy()), rel=1e-9)
    assert history["hypervolume"].is_monotonic_increasing
    best_f2 = reread.select([0.0, 1.0])
    assert best_f2.objectives[1] == reread.objectives[:, 1].max()
    table = reread.to_pandas(flatten=True)
    assert {"f1", "minus_f2"} <= set(table.columns)
    assert (table["minus_f2"] <= 0).all()


def test_directions_refused_at_the_boundary(tmp_path: Path) -> None:
    run = tmp_path / "bad"
    with pytest.raises(ConfigError, match=r"directions=.*3 entries.*2 objectives"):
        paretoray.search(ZDT1, directions=["minimize", "maximize", "maximize"],
                         run_dir=str(run), **SETTINGS)
    with pytest.raises(ConfigError, match="directions"):
        paretoray.search(ZDT1, directions=["minimize", "upward"], run_dir=str(run), **SETTINGS)
    assert not run.exists()


def test_directions_on_a_table(pair: tuple) -> None:
    _, _, flipped = pair
    arrow = flipped.to_arrow()
    assert pa.types.is_fixed_size_list(arrow.schema.field("objectives").type)
    assert flipped.directions == ["minimize", "maximize"]


def test_resume_keeps_the_directions(pair: tuple) -> None:
    root, plain, _ = pair
    before = paretoray.open(str(root / "max"))
    after = paretoray.resume(str(root / "max"), steps=80, problem=MAXIMIZING)
    resumed_plain = paretoray.resume(str(root / "plain"), steps=80)
    # the resumed session steps the same minimized problem from the same archive
    order_p = np.lexsort(resumed_plain.objectives.T[::-1])
    order_f = np.lexsort((after.objectives * [1, -1]).T[::-1])
    assert np.allclose(after.objectives[order_f] * [1, -1], resumed_plain.objectives[order_p],
                       rtol=0, atol=1e-12)
    assert after.hypervolume() >= before.hypervolume()
    assert len(plain) > 0
