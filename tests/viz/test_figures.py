"""The plotly figures of a view: one front point per front row (row order kept for clicks),
the true front, the rays, session boundaries and per-shard bars from pyarrow counts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import paretoray.archive as archive
from paretoray.viz.data import build_view
from paretoray.viz.figures import figures_json, front_figure
from tests.viz import _writer


def test_figures_follow_the_archive(tmp_path) -> None:
    run = tmp_path / "run"
    _writer.write(str(run), 6, 0.0)
    view = build_view(run)
    front = archive.open(run)
    fig = front_figure(view)
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"true front", "preference rays", "front"}
    np.testing.assert_array_equal(np.c_[traces["front"].x, traces["front"].y], front.objectives)
    assert list(traces["front"].customdata) == list(range(len(front)))
    truth = np.c_[traces["true front"].x, traces["true front"].y]
    np.testing.assert_allclose(truth[:, 1], 1 - np.sqrt(truth[:, 0]))  # ZDT1's front

    figs = figures_json(view)
    lines = [s for s in figs["history"]["layout"].get("shapes", []) if s["type"] == "line"]
    assert [s["x0"] for s in lines] == [6 // 2 - 0.5]  # session 2 starts at round 3
    bars = {t["name"]: t["y"] for t in figs["shards"]["data"]}
    rows = pa.concat_tables([pa.ipc.open_file(p).read_all()
                             for p in archive.segment_paths(run)])
    shard = np.asarray(rows["shard"].to_pylist())
    assert list(bars["points archived"]) == [int((shard == s).sum()) for s in (0, 1)]
    assert "NaN resets" not in bars  # no coordinator state: no bar rather than zeros
