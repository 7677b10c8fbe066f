"""The view model against outside truth: pymoo's HV, IGD and nondominated sorting on the
rows read back with pyarrow, and ``paretoray.archive.open`` for the front."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pymoo.indicators.hv import HV
from pymoo.indicators.igd import IGD
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

import paretoray.archive as archive
from paretoray import problems
from paretoray.archive import Store
from paretoray.viz.data import build_view, true_front_of
from tests.viz import _writer

ROUNDS = 6


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "run"
    _writer.write(str(path), ROUNDS, 0.0)
    return path


def _segments(run_dir: Path) -> list[pa.Table]:
    return [pa.ipc.open_file(p).read_all() for p in archive.segment_paths(run_dir)]


def _objectives(table: pa.Table) -> np.ndarray:
    return np.asarray(table["objectives"].to_pylist(), dtype=np.float64)


def test_front_equals_the_archive_reader(run_dir) -> None:
    view = build_view(run_dir)
    json.dumps(view, allow_nan=False)  # JSON-safe: no NaN, no numpy
    front = archive.open(run_dir)
    assert view["front"]["point_id"] == front.point_ids.tolist()
    np.testing.assert_array_equal(view["front"]["objectives"], front.objectives)
    np.testing.assert_array_equal(view["front"]["x"], front.x)
    assert view["n_points"] == sum(t.num_rows for t in _segments(run_dir))


def test_history_matches_pymoo_per_round(run_dir) -> None:
    view = build_view(run_dir)
    rows = pa.concat_tables(_segments(run_dir))
    F, rounds = _objectives(rows), np.asarray(rows["round"].to_pylist())
    truth = problems.get("zdt1").pareto_front(200).numpy()
    hist = view["history"]
    assert hist["round"] == list(range(ROUNDS))
    for r in range(ROUNDS):
        upto = F[rounds <= r]
        assert hist["hypervolume"][r] == pytest.approx(
            HV(ref_point=np.array([1.1, 1.1]))(upto), rel=1e-12)
        nds = NonDominatedSorting().do(upto, only_non_dominated_front=True)
        assert hist["igd"][r] == pytest.approx(IGD(truth)(upto[nds]), rel=1e-9)
        assert hist["front_size"][r] == len(nds)
        assert hist["points"][r] == len(upto)
    assert [s["first_round"] for s in view["sessions"]] == [0, ROUNDS // 2]


def test_shards_count_points_and_accepted_by_commit(run_dir) -> None:
    view = build_view(run_dir)
    segs = _segments(run_dir)
    accepted: dict[int, int] = {}
    union = np.zeros((0, 2))
    for seg in segs:  # replay the commits: which new rows are nondominated in the union
        F = _objectives(seg)
        union = np.concatenate([union, F])
        nds = NonDominatedSorting().do(union, only_non_dominated_front=True)
        shard = seg["shard"][0].as_py()
        accepted[shard] = accepted.get(shard, 0) + int((nds >= len(union) - len(F)).sum())
    rows = pa.concat_tables(segs)
    shard_col = np.asarray(rows["shard"].to_pylist())
    assert [s["shard"] for s in view["shards"]] == [0, 1]
    for s in view["shards"]:
        assert s["points"] == int((shard_col == s["shard"]).sum())
        assert s["accepted"] == accepted[s["shard"]]
        assert s["rounds"] == ROUNDS and s["last_round"] == ROUNDS - 1
        assert s["nan_resets"] is None  # no coordinator state in this run


def test_state_folder_and_legacy_state_json_give_resets_and_decisions(run_dir, tmp_path) -> None:
    resets = {(s, r): s + r for s in range(2) for r in range(ROUNDS)}
    decisions = [{"kind": "decision", "action": "reaim", "shard": 1, "reason": "gap", "time": 1.0},
                 {"kind": "decision", "action": "stop", "shard": 0, "reason": "idle", "time": 2.0},
                 {"kind": "decision", "action": "reaim", "shard": 1, "reason": "gap", "time": 3.0}]
    expect_resets = {s: sum(s + r for r in range(ROUNDS)) for s in range(2)}
    commits = [{"kind": "commit", "shard": s, "round": r, "accepted": 1, "nan_resets": n}
               for (s, r), n in resets.items()]

    # the coordinator's state/ folder: base.json, a finished session's log, the current log
    folder = tmp_path / "folder"
    shutil.copytree(run_dir, folder)
    (folder / "state").mkdir(exist_ok=True)
    (folder / "state" / "base.json").write_text(json.dumps(
        {"version": 2, "prefs": [[0.5, 0.5], [0.2, 0.8]], "shards": [[0, 1], [1, 2]]}))
    half = len(commits) // 2
    (folder / "state" / "session-1.jsonl").write_text("\n".join(
        json.dumps(r) for r in [*commits[:half], decisions[0]]) + "\n")
    (folder / "state" / "log.jsonl").write_text("\n".join(
        [*(json.dumps(r) for r in [*commits[half:], *decisions[1:]]),
         json.dumps({"kind": "prefs", "start": 1, "values": [[0.1, 0.9]]}),
         '{"kind": "commit", "shard": 0, "nan_re']))  # a torn last line is skipped

    legacy = tmp_path / "legacy"
    shutil.copytree(run_dir, legacy)
    (legacy / "state.json").write_text(json.dumps({
        "committed": {f"{s}:{r}": {"accepted": 1, "metrics": {"nan_resets": n}}
                      for (s, r), n in resets.items()},
        "decisions": [{k: v for k, v in d.items() if k != "kind"} for d in decisions],
        "prefs": [[0.5, 0.5], [0.1, 0.9]]}))
    for path in (folder, legacy):
        view = build_view(path)
        got = {s["shard"]: s["nan_resets"] for s in view["shards"]}
        assert got == expect_resets, path
        assert view["shards"][1]["decisions"] == {"reaim": 2}
        assert view["shards"][0]["decisions"] == {"stop": 1}
        assert [d["reason"] for d in view["decisions"]] == ["gap", "idle", "gap"]
        assert view["rays"] == [[0.1, 0.9], [0.5, 0.5]]  # the state's current preferences


def test_true_front_only_for_registry_problems(tmp_path) -> None:
    meta = {"problem": "dtlz2", "config": {"problem_options": {"n_obj": 3}}, "n_obj": 3}
    truth = true_front_of(meta, 100)
    assert truth is not None and truth.shape[1] == 3
    np.testing.assert_allclose(np.linalg.norm(truth, axis=1), 1.0)  # DTLZ2: the unit sphere
    assert true_front_of({**meta, "custom_problem": True}) is None
    assert true_front_of({**meta, "problem": "custom:mine"}) is None
    assert true_front_of({**meta, "problem": "no-such-problem"}) is None
    with Store.create(tmp_path / "r", n_obj=2, meta={"problem": "custom:mine"}) as store:
        store.append(np.array([[1.0, 2.0], [2.0, 1.0]]), preference=[0.5, 0.5], round=0,
                     shard=0, member=np.arange(2), algorithm="epo", step=1)
    view = build_view(tmp_path / "r")
    assert view["true_front"] is None and view["history"]["igd"] == [None]
    assert view["front"]["x"] is None and view["ref_point"] == [2.2, 2.2]


def test_cached_polls_equal_fresh_views_while_shards_commit_out_of_order(tmp_path) -> None:
    """A lagging shard commits earlier rounds after later ones; every poll through the cache
    equals a view built from scratch, whose per-round values pymoo checks above."""
    from paretoray.viz.data import ViewCache

    order = [(0, 0), (0, 1), (1, 0), (2, 0), (1, 1), (3, 0), (2, 1), (3, 1)] + [
        (r, s) for r in range(4, 14) for s in (1, 0)]
    cache = ViewCache()
    with Store.create(tmp_path / "r", n_obj=2, n_var=_writer.D,
                      meta={"problem": "zdt1", "ref_point": [1.1, 1.1]}) as store:
        for rnd, shard in order:
            x, pref = _writer.round_points(rnd, shard, 14)
            store.append(_writer.zdt1(x), preference=pref, x=x, round=rnd, shard=shard,
                         member=np.arange(_writer.P), algorithm="epo", step=rnd)
            polled = build_view(tmp_path / "r", cache=cache)
            fresh = build_view(tmp_path / "r")
            assert polled == fresh, (rnd, shard)
    assert len(cache.history["snapshots"]) == 8  # only the latest rounds' fronts are kept


def test_a_run_without_points_yet_has_an_empty_view(tmp_path) -> None:
    from paretoray.viz.figures import figures_json

    Store.create(tmp_path / "r", n_obj=4, meta={
        "problem": "dtlz2", "config": {"problem_options": {"n_obj": 4}}}).close()
    view = build_view(tmp_path / "r")
    json.dumps({"view": view, "figures": figures_json(view)}, allow_nan=False)
    assert view["n_points"] == 0 and view["front"]["point_id"] == []
    assert view["history"]["round"] == [] and view["shards"] == []
    assert np.asarray(view["true_front"]).shape[1] == 4
