"""A coordinator killed at each point of a commit, with the ehvi adapter (the slowest step
after the manifest): the restarted coordinator and the replayed offer never write a round
twice, never lose a committed one, and the run goes on. Checked on the segments' rows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from paretoray.archive import verify
from paretoray.distributed.coordinator import CoordinatorCore
from paretoray.distributed.messages import Factory, Offer, RoundStats, RunPlan
from paretoray.distributed.state import StateLog

from ._rows import round_keys


def plan(run_dir: str) -> RunPlan:
    prefs = np.stack([np.linspace(0.05, 0.95, 4), 1 - np.linspace(0.05, 0.95, 4)], axis=1)
    return RunPlan(run_dir=run_dir, config={"adapter": "ehvi"},
                   problem=Factory("problem", "zdt1", {"n_var": 2}),
                   algorithm=Factory("algorithm", "linear"), n_obj=2, n_var=2,
                   ref_point=(1.1, 1.1), initial_prefs=prefs, workers=2, rounds=4,
                   create=True, meta={"ref_point": [1.1, 1.1]}, adapter="ehvi",
                   adapter_options={"max_points": 16}, reaim_after=None)


def offer(shard: int, rnd: int) -> Offer:
    """Round ``rnd`` of ``shard``: two points of a front that improves each round."""
    t = np.array([0.2, 0.7]) + 0.1 * shard
    F = np.stack([t, (1 - np.sqrt(t)) * (1 - 0.05 * rnd)], axis=1)
    return Offer(shard=shard, round=rnd, objectives=F, preference=np.full((2, 2), 0.5),
                 x=np.stack([t, np.zeros(2)], axis=1), member=np.arange(2) + 2 * shard,
                 algorithm="linear", stats=RoundStats(rnd, 0, 0, 0.01))


CHILD = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    from distributed.test_commit_faults import plan, offer
    from paretoray.distributed.coordinator import CoordinatorCore
    core = CoordinatorCore(plan({run!r}))
    core.begin_session(4)
    for r in range(2):
        core.offer(offer(0, r))
        core.offer(offer(1, r))
    os.environ["PARETORAY_FAULT_POINT"] = {point!r}
    core.offer(offer(0, 2))
    print("survived")
""")


@pytest.mark.parametrize("point", ["after_segments", "after_commit", "after_adapt"])
def test_coordinator_killed_at_each_point_of_a_commit(tmp_path, point):
    run = str(tmp_path / "run")
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", CHILD.format(tests=tests, run=run,
                                                              point=point)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137 and "survived" not in proc.stdout, proc.stderr[-3000:]
    before = round_keys(run)

    # Ray restarts the actor (same arguments) and re-sends the offer that was in flight
    with pytest.warns(Warning):  # the dead process's lock is taken over (and, maybe, an orphan)
        core = CoordinatorCore(plan(run))
    replay = core.offer(offer(0, 2))
    assert replay.duplicate == (point != "after_segments")  # committed before the kill?
    for key in [(1, 2), (0, 3), (1, 3)]:
        assert not core.offer(offer(*key)).duplicate
    assert core.offer(offer(1, 3)).duplicate  # and any later replay writes nothing
    core.close()

    after = round_keys(run)
    assert set(before) <= set(after)
    assert after == {(s, r): 1 for s in range(2) for r in range(4)}, after
    assert verify(run).ok, str(verify(run))
    state = StateLog(run).load()
    assert np.isfinite(state.prefs).all() and state.rounds == [4, 4]
