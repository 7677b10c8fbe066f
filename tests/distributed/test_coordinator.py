"""The coordinator core (no Ray): exactly-once commits checked against the segments on
disk, state that survives a restart and a lost state log, re-aiming through the idle rule,
context fronts as deltas, and the state log's format."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from paretoray.distributed.coordinator import CoordinatorCore, split_population
from paretoray.distributed.idle import IdleRule
from paretoray.distributed.messages import Factory, Offer, RoundStats, RunPlan
from paretoray.distributed.state import StateLog, read_records
from paretoray.preferences.geometry import largest_gaps

from ._rows import round_keys


def _plan(run_dir, *, create=True, workers=2, coupled=False, reaim_after=None,
          stop_after=None) -> RunPlan:
    prefs = np.stack([np.linspace(0, 1, 6), 1 - np.linspace(0, 1, 6)], axis=1)
    return RunPlan(run_dir=str(run_dir), config={"adapter": "fixed"},
                   problem=Factory("problem", "zdt1", {"n_var": 2}),
                   algorithm=Factory("algorithm", "linear"), n_obj=2, n_var=2,
                   ref_point=(1.1, 1.1), initial_prefs=prefs, workers=workers, rounds=3,
                   create=create, meta={"ref_point": [1.1, 1.1]}, coupled=coupled,
                   reaim_after=reaim_after, stop_after=stop_after)


def _message(shard, rnd, F, engine_s=0.01) -> Offer:
    F = np.asarray(F, dtype=float)
    return Offer(shard=shard, round=rnd, objectives=F, preference=np.full_like(F, 0.5),
                 x=F.copy(), member=np.arange(len(F)), algorithm="test",
                 stats=RoundStats(steps=10 * (rnd + 1), nan_resets=0, nonfinite=0,
                                  engine_s=engine_s))


def _offer(core, shard, rnd, F):
    return core.offer(_message(shard, rnd, F))


def test_an_offer_is_committed_once_across_replays_and_restarts(tmp_path):
    run = tmp_path / "run"
    core = CoordinatorCore(_plan(run))
    core.begin_session(3)
    first = _offer(core, 0, 0, [[0.2, 0.8], [0.8, 0.2]])
    assert first.accepted == 2 and not first.duplicate
    again = _offer(core, 0, 0, [[0.1, 0.1]])  # a replayed round after a worker restart
    assert again.duplicate and again.accepted == 2
    _offer(core, 1, 0, [[0.5, 0.5]])
    core.close()
    assert round_keys(run) == {(0, 0): 1, (1, 0): 1}

    # Ray re-runs __init__ with its arguments after a coordinator crash: the manifest, not
    # a memory of this process, answers the replay of an offer already committed
    restarted = CoordinatorCore(_plan(run))
    assert _offer(restarted, 1, 0, [[0.0, 0.0]]).duplicate
    restarted.close()
    assert round_keys(run) == {(0, 0): 1, (1, 0): 1}
    assert len(CoordinatorCore(_plan(run)).front()) == 3


def test_the_actor_commits_a_group_once_every_live_shard_has_offered(tmp_path):
    """The Ray actor's offer coroutine, on a plain asyncio loop: a group is committed as
    soon as every live shard has an offer in it, or by its timer when one shard is late."""
    import asyncio

    from paretoray.distributed.coordinator import _ActorCore

    actor = _ActorCore(_plan(tmp_path / "run", workers=3))
    actor.begin_session(3)

    async def offers(*messages, apart=0.0):  # as Ray delivers them, `apart` s apart
        async def one(i, m):
            await asyncio.sleep(i * apart)
            return await actor.offer(m)

        return await asyncio.wait_for(  # a hang fails
            asyncio.gather(*(one(i, m) for i, m in enumerate(messages))), timeout=30)

    # engine seconds of an hour: the first offer's group stays open for the others (0.2 s
    # at most); the third shard's offer completes it, so the three are one commit
    first = asyncio.run(offers(*(_message(s, 0, [[0.1 + s / 10, 0.9 - s / 10]], 3600.0)
                                 for s in range(3)), apart=0.02))
    assert [r.accepted for r in first] == [1, 1, 1]
    assert actor.summary().groups == 1 and actor.summary().offers == 3
    # round 1: shard 2 is late; the two others are committed together by the timer
    late = asyncio.run(offers(_message(0, 1, [[0.05, 0.85]], 0.02),
                              _message(1, 1, [[0.15, 0.75]], 0.02)))
    assert [r.accepted for r in late] == [1, 1]
    assert actor.summary().groups == 2
    asyncio.run(offers(_message(2, 1, [[0.25, 0.65]], 0.02)))
    assert actor.summary().groups == 3 and actor.summary().offers == 6
    actor.close()
    assert round_keys(tmp_path / "run") == {(s, r): 1 for s in range(3) for r in range(2)}


@pytest.mark.parametrize("adapter", ["fixed", "adaptive"])
def test_a_receipt_carries_the_plan_two_rounds_on_once_nothing_can_change_it(tmp_path,
                                                                             adapter):
    """A plan that came with a receipt is the plan the shard would get by asking after its
    next steps: with ``fixed`` at once; with an adapter that reads the front only once the
    global round is complete (adapted), never before."""
    import asyncio
    import dataclasses

    from paretoray.distributed.coordinator import _ActorCore

    def actor_for(run):
        actor = _ActorCore(dataclasses.replace(_plan(run, workers=2), adapter=adapter))
        actor.begin_session(3)
        return actor

    def offer(actor, shard, rnd, F):  # alone: shard 1 is late, the timer commits it
        return asyncio.run(asyncio.wait_for(
            actor.offer(_message(shard, rnd, F, 0.02), rnd + 2), timeout=30))

    actor = actor_for(tmp_path / "run")
    early = offer(actor, 0, 0, [[0.1, 0.9], [0.12, 0.88], [0.14, 0.86]])
    if adapter == "fixed":
        assert early.plan is not None and early.plan.round == 2
    else:  # round 0 is not complete: the adapter has not moved the vectors yet
        assert early.plan is None
    last = offer(actor, 1, 0, [[0.9, 0.1]])  # completes round 0: adapted
    assert last.progress is not None and last.progress.round == 1
    assert last.plan is not None and (last.plan.shard, last.plan.round) == (1, 2)
    # the plans are what asking now gives (round 1 has not started anywhere)
    for receipt in (early, last):
        if receipt.plan is not None:
            asked = actor.next_round(receipt.plan.shard, 2)
            np.testing.assert_array_equal(receipt.plan.prefs, asked.prefs)
            assert receipt.plan.stop == asked.stop
    if adapter == "adaptive":  # and the adapter did move them (else this shows nothing)
        assert not np.array_equal(last.plan.prefs, _plan(tmp_path, workers=2).initial_prefs[3:])
    actor.close()


def test_a_lost_state_log_never_renumbers_rounds(tmp_path):
    run = tmp_path / "run"
    core = CoordinatorCore(_plan(run))
    core.begin_session(2)
    for rnd in range(2):
        _offer(core, 0, rnd, [[0.2 + rnd / 10, 0.8]])
        _offer(core, 1, rnd, [[0.8, 0.2 - rnd / 10]])
    core.close()
    shutil.rmtree(run / "state")  # deleted, or restored from an older backup
    resumed = CoordinatorCore(_plan(run, create=False))
    start = resumed.begin_session(2)
    assert start.first_round == 2  # from the manifest: rounds 0 and 1 are taken
    assert not _offer(resumed, 0, 2, [[0.05, 0.9]]).duplicate
    resumed.close()
    assert max(round_keys(run).values()) == 1


def test_resume_on_more_workers_resplits_and_continues_numbering(tmp_path):
    run = tmp_path / "run"
    core = CoordinatorCore(_plan(run))
    core.begin_session(1)
    _offer(core, 0, 0, [[0.2, 0.8]])
    _offer(core, 1, 0, [[0.8, 0.2]])
    core.close()
    wider = CoordinatorCore(_plan(run, create=False, workers=3))
    start = wider.begin_session(2)
    assert start.shards == ((0, 2), (2, 4), (4, 6))
    assert start.first_round == 1
    assert _offer(wider, 2, 1, [[0.3, 0.3]]).accepted == 1
    wider.close()


def test_idle_shard_is_reaimed_at_the_largest_gap_then_stopped(tmp_path):
    core = CoordinatorCore(_plan(tmp_path / "run", reaim_after=1, stop_after=2))
    core.begin_session(3)
    # shard 0 finds a front with one big gap between (0.1, 0.9) and (0.9, 0.1)
    _offer(core, 0, 0, [[0.0, 1.0], [0.05, 0.95], [0.1, 0.9], [0.9, 0.1], [1.0, 0.0]])
    receipt = _offer(core, 1, 0, [[2.0, 2.0]])  # dominated: nothing accepted
    assert receipt.decision == "reaim"
    plan = core.next_round(1, 1)
    midpoint = np.array([0.5, 0.5])
    direction = plan.prefs / np.linalg.norm(plan.prefs, axis=1, keepdims=True)
    assert direction[0] @ (midpoint / np.linalg.norm(midpoint)) > 0.999, plan.prefs
    np.testing.assert_allclose(plan.start_x[0], midpoint)  # from between the gap's ends
    assert core.next_round(1, 1).start_x is None  # the restart happens once
    assert _offer(core, 1, 1, [[2.0, 2.0]]).decision == "stop"
    assert core.next_round(1, 2).stop
    assert core.summary().decisions == {"reaim": 1, "stop": 1}
    core.close()
    records = read_records(tmp_path / "run" / "state" / "session-1.jsonl")
    assert [r["action"] for r in records if r["kind"] == "decision"] == ["reaim", "stop"]


def test_context_is_sent_as_what_changed(tmp_path):
    core = CoordinatorCore(_plan(tmp_path / "run", coupled=True))
    core.begin_session(3)
    first = core.next_round(1, 0).context
    assert first.reset and len(first.add_ids) == 0
    _offer(core, 0, 0, [[0.2, 0.8], [0.8, 0.2]])
    _offer(core, 1, 0, [[0.5, 0.5]])  # its own points are never in its context
    delta = core.next_round(1, 1).context
    assert not delta.reset
    np.testing.assert_allclose(np.sort(delta.add_objectives[:, 0]), [0.2, 0.8])
    assert set(delta.add_shards.tolist()) == {0}
    _offer(core, 0, 1, [[0.1, 0.7]])  # dominates (0.2, 0.8)
    delta = core.next_round(1, 2).context
    np.testing.assert_allclose(delta.add_objectives, [[0.1, 0.7]])
    assert len(delta.drop_ids) == 1  # (0.2, 0.8) left the front
    assert core.next_round(1, 2).context.size == 0  # nothing changed since
    core.close()


def test_state_log_replays_and_skips_a_torn_last_line(tmp_path):
    run = tmp_path / "run"
    core = CoordinatorCore(_plan(run))
    core.begin_session(3)
    _offer(core, 0, 0, [[0.2, 0.8]])
    core.log.close()
    with open(run / "state" / "log.jsonl", "a") as fh:
        fh.write('{"kind": "commit", "shard": 1, "ro')  # a crash mid-append
    state = StateLog(run).load()
    assert state.rounds == [1, 0]
    base = json.loads((run / "state" / "base.json").read_text())
    assert base["version"] == 2 and len(base["prefs"]) == 6
    core.store.close()


def test_idle_rule():
    rule = IdleRule(reaim_after=2, stop_after=4)
    assert [rule.decide(0, a) for a in (3, 0, 0, 0, 0)] == [
        "continue", "continue", "reaim", "continue", "stop"]
    assert rule.decide(1, 0) == "continue" and rule.decide(1, 5) == "continue"
    assert rule.decide(1, 0) == "continue" and rule.decide(1, 0) == "reaim"


def test_largest_gaps_and_split():
    front = np.array([[0.0, 1.0], [0.1, 0.9], [0.6, 0.4], [1.0, 0.0]])
    mid, i, j = largest_gaps(front, 1)
    assert {int(i[0]), int(j[0])} == {1, 2}  # (0.1, 0.9) -- (0.6, 0.4) is the widest
    np.testing.assert_allclose(mid[0], [0.35, 0.65])
    assert [len(r) for r in split_population(10, 3)] == [3, 4, 3]


@pytest.mark.ray
def test_connect_reuses_a_running_session(ray_session):
    from paretoray.distributed.runner import connect

    assert connect(None) is False  # already initialized: reused, and not ours to stop
    assert ray_session.is_initialized()


def test_a_coordinator_restarted_mid_session_goes_on_with_that_session(tmp_path):
    run = tmp_path / "run"
    core = CoordinatorCore(_plan(run))
    assert core.begin_session(3).first_round == 0
    _offer(core, 0, 0, [[0.2, 0.8]])
    _offer(core, 1, 0, [[0.8, 0.2]])
    core.log.close()
    core.store._lock.release()  # the actor's process died; Ray starts a new one
    restarted = CoordinatorCore(_plan(run))  # no begin_session: Ray re-runs __init__ only
    plan = restarted.next_round(0, 1)
    assert not plan.stop and plan.start_x is None  # members keep their own positions
    assert not _offer(restarted, 0, 1, [[0.1, 0.7]]).duplicate
    assert restarted.next_round(0, 3).stop  # the session's rounds are 0, 1, 2
    restarted.close()
    assert round_keys(run) == {(0, 0): 1, (1, 0): 1, (0, 1): 1}
