"""The README's snippets for reading the archive from outside run as written, offline."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from paretoray.archive import Store, open, read_points

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"<!-- readme-test: (\S+) -->\s*```python\n(.*?)```", re.S)


def _snippets() -> dict[str, str]:
    return dict(_BLOCK.findall(README.read_text()))


def test_readme_has_the_archive_snippets() -> None:
    assert {"pandas", "polars", "duckdb", "decisions"} <= set(_snippets())


@pytest.fixture
def zdt1_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``runs/zdt1`` in a fresh current directory, written with the Store directly."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "zdt1"
    rng = np.random.default_rng(0)
    with Store.create(run, n_obj=2, n_var=3, meta={"problem": "zdt1",
                                                   "ref_point": [1.1, 1.1]}) as store:
        for r in range(3):
            for shard in range(2):
                f1 = rng.random(10)
                F = np.stack([f1, 1 - np.sqrt(f1) + 0.5 / (r + 1)], 1)
                store.append(F, preference=rng.dirichlet([1, 1], 10), x=rng.random((10, 3)),
                             round=r, shard=shard, member=np.arange(10), algorithm="epo",
                             step=r)
    return run


@pytest.mark.parametrize("name", ["pandas", "polars", "duckdb", "decisions"])
def test_readme_snippet_runs(name: str, zdt1_run: Path, capsys: pytest.CaptureFixture) -> None:
    ns: dict[str, object] = {}
    exec(compile(_snippets()[name], f"README.md:{name}", "exec"), ns)
    assert capsys.readouterr().out  # every snippet prints what it read
    front = open(zdt1_run)
    ids = sorted(front.point_ids.tolist())
    if name == "pandas":
        df = ns["front"]
        assert sorted(df["point_id"].tolist()) == ids
        np.testing.assert_array_equal(
            df.sort_values("point_id")[["f1", "f2"]].to_numpy(),
            front.objectives[np.argsort(front.point_ids)])
    elif name == "polars":
        assert sorted(ns["front"]["point_id"].to_list()) == ids
        assert ns["points"].height == read_points(zdt1_run).num_rows == 60
    elif name == "duckdb":
        rows = read_points(zdt1_run)
        rounds = np.asarray(rows["round"].to_numpy())
        obj = np.stack(rows["objectives"].to_numpy(zero_copy_only=False))
        want = [(r, int((rounds == r).sum()), float(obj[rounds == r, 0].min())) for r in range(3)]
        assert ns["per_round"] == want
    else:
        point = ns["point"]
        assert point.point_id in ids and isinstance(ns["history"].shape, tuple)
        assert ns["history"]["round"].tolist() == [0, 1, 2]
        assert isinstance(front.to_arrow(), pa.Table)
