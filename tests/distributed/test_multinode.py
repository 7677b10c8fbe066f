"""A search on a real multi-node Ray cluster (``ray.cluster_utils.Cluster`` on this machine).

Each node is a separate raylet with its own resources, so placement, node loss and
coordinator loss behave as on separate hosts. The archive is read back independently of
paretoray's reader: ``archive/manifest.json`` with :mod:`json`, each listed segment with
``pyarrow.ipc``. Where a shard ran comes from the node id each commit records
(``state/*.jsonl``, measured in the worker with ``ray.get_runtime_context()``), checked
against the node ids Ray itself lists.

Marked ``multinode``: run apart from the shared Ray session of the other distributed
tests (``make test`` runs them in their own pytest invocation); the module fixture shuts
any Ray session of this process down first.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import threading
import time

import numpy as np
import pytest

import paretoray as pr

pa_ipc = pytest.importorskip("pyarrow.ipc")
pytestmark = pytest.mark.multinode

#: A small, deterministic search: fixed preferences, so a shard's trajectory depends only
#: on its members, its seed and its preferences, never on the order of other shards' offers.
SMALL = {"problem": "zdt1", "algorithm": "epo", "population": 8, "steps": 40,
         "steps_per_round": 20, "workers": 2, "seed": 0, "adapter": "fixed", "progress": False}
#: Long enough (20 rounds per shard) to act in the middle of it.
LONG = {**SMALL, "steps": 200, "steps_per_round": 10}


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # the shared session of other modules must not be running
        ray.shutdown()
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 2, "include_dashboard": False})
    ray.init(address=c.address, log_to_driver=False, namespace="paretoray-multinode")
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def _alive_nodes() -> set[str]:
    import ray

    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def _worker_node(cluster):
    """A non-head node of ``cluster`` (added when there is none)."""
    if not cluster.worker_nodes:
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
    return next(iter(cluster.worker_nodes))


def _manifest(run_dir: str) -> dict:
    path = os.path.join(run_dir, "archive", "manifest.json")
    if not os.path.exists(path):
        return {"segments": []}
    with open(path) as fh:
        return json.load(fh)


def _rows(run_dir: str) -> dict[str, np.ndarray]:
    """Every committed row: the segments the manifest lists, read with pyarrow."""
    man = _manifest(run_dir)
    folder = os.path.join(run_dir, "archive", man.get("segment_dir", ""))
    tables = [pa_ipc.open_file(os.path.join(folder, s["name"])).read_all()
              for s in man["segments"]]
    out = {k: np.concatenate([t.column(k).to_numpy() for t in tables])
           for k in ("shard", "round", "member")}
    out["objectives"] = np.concatenate(
        [np.stack(t.column("objectives").to_pylist()) for t in tables])
    return out


def _commit_nodes(run_dir: str) -> dict[int, set[str]]:
    """shard -> the node ids its commits were made from (as recorded in ``state/``)."""
    nodes: dict[int, set[str]] = {}
    for rec in _commits(run_dir):
        nodes.setdefault(int(rec["shard"]), set()).add(rec["node"])
    return nodes


def _segment_keys(rows: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """The (shard, round) pairs of the segments, once per segment (a round = one segment)."""
    pairs = {(int(s), int(r)) for s, r in zip(rows["shard"], rows["round"], strict=True)}
    return sorted(pairs)


def _expected_keys(cfg: dict) -> list[tuple[int, int]]:
    rounds = cfg["steps"] // cfg["steps_per_round"]
    return [(s, r) for s in range(cfg["workers"]) for r in range(rounds)]


def _assert_each_round_once(run_dir: str, cfg: dict) -> dict[str, np.ndarray]:
    """Every (shard, round) of the session is in the archive, each exactly once."""
    rows = _rows(run_dir)
    keys = np.stack([rows["shard"], rows["round"], rows["member"]], axis=1)
    uniq, counts = np.unique(keys, axis=0, return_counts=True)
    twice = uniq[counts > 1]
    assert len(twice) == 0, f"(shard, round, member) written more than once: {twice[:5]}"
    man = _manifest(run_dir)
    seg_keys = [(s["shard"], s["round"]) for s in man["segments"] if "shard" in s]
    assert len(seg_keys) == len(set(seg_keys)), "a (shard, round) has two segments"
    assert _segment_keys(rows) == _expected_keys(cfg)
    per_round = cfg["population"] // cfg["workers"]
    assert len(rows["shard"]) == per_round * len(_expected_keys(cfg))
    return rows


def _in_thread(fn):
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # reported by the test
            box["error"] = err

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def _commits(run_dir: str) -> list[dict]:
    """The commit records of ``state/*.jsonl`` (appended as each (shard, round) commits)."""
    out = []
    for path in sorted(glob.glob(os.path.join(run_dir, "state", "*.jsonl"))):
        with open(path) as fh:
            out += [rec for line in fh if line.strip()
                    and (rec := json.loads(line)).get("kind") == "commit"]
    return out


def _wait_for_commits(run_dir: str, n: int, thread, timeout: float = 120.0) -> list[dict]:
    """The commit records once every shard has committed ``n`` rounds (the search running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        with contextlib.suppress(ValueError):  # a line being appended
            commits = _commits(run_dir)
            per_shard = [sum(c["shard"] == s for c in commits) for s in range(LONG["workers"])]
            if min(per_shard) >= n:
                return commits
        time.sleep(0.02)
    raise AssertionError(f"a shard with fewer than {n} commits in {run_dir} before the search "
                         f"{'ended' if not thread.is_alive() else 'timed out'}")


def _assert_kept(run_dir: str, before: list[dict]) -> None:
    """Every round committed before the fault is in the final manifest, in its segment."""
    final = {(s["shard"], s["round"]): s["name"] for s in _manifest(run_dir)["segments"]}
    lost = [(c["shard"], c["round"]) for c in before
            if final.get((c["shard"], c["round"])) != c["segment"]]
    assert not lost, f"committed before the fault, missing after: {lost}"


def _finish(thread, box, timeout: float = 180.0):
    thread.join(timeout)
    assert not thread.is_alive(), "the search did not finish"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_search_spreads_over_two_nodes_and_keeps_the_one_node_archive(cluster, tmp_path):
    import ray

    head = ray.get_runtime_context().get_node_id()
    # one node (the head, 2 CPUs): both shards there
    assert not cluster.worker_nodes
    one = str(tmp_path / "one")
    pr.search(run_dir=one, **SMALL)
    assert _commit_nodes(one) == {0: {head}, 1: {head}}

    # two nodes, each of which could hold both shards: spread on purpose, one per node
    _worker_node(cluster)
    nodes = _alive_nodes()
    assert len(nodes) == 2
    two = str(tmp_path / "two")
    front = pr.search(run_dir=two, **SMALL)
    placed = _commit_nodes(two)
    assert set(placed) == {0, 1}
    assert all(len(v) == 1 for v in placed.values()), placed  # no shard moved
    assert placed[0] | placed[1] == nodes, (placed, nodes)

    # the same archive as on one node: same rows, same objectives
    a, b = _assert_each_round_once(one, SMALL), _assert_each_round_once(two, SMALL)
    order_a = np.lexsort((a["member"], a["round"], a["shard"]))
    order_b = np.lexsort((b["member"], b["round"], b["shard"]))
    for k in ("shard", "round", "member"):
        np.testing.assert_array_equal(a[k][order_a], b[k][order_b])
    np.testing.assert_allclose(a["objectives"][order_a], b["objectives"][order_b],
                               rtol=1e-9, atol=1e-12)
    assert len(front) > 0
    np.testing.assert_allclose(np.sort(front.objectives, axis=0),
                               np.sort(pr.open(one).objectives, axis=0), rtol=1e-9)


def test_worker_node_removed_mid_run(cluster, tmp_path):
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    victim = _worker_node(cluster)
    head = ray.get_runtime_context().get_node_id()
    lost = {n for n in _alive_nodes() if n != head}
    # one of the head's 2 CPUs held while the shards start: at least one lands on the victim
    @ray.remote(num_cpus=1)
    class Hold:  # defined here: shipped by value, the workers cannot import tests/
        def ready(self) -> bool:
            return True

    on_head = NodeAffinitySchedulingStrategy(head, soft=False)
    hold = Hold.options(scheduling_strategy=on_head).remote()
    ray.get(hold.ready.remote())
    run_dir = str(tmp_path / "run")
    thread, box = _in_thread(lambda: pr.search(run_dir=run_dir, **LONG))
    before = _wait_for_commits(run_dir, 2, thread)
    assert any(c["node"] in lost for c in before), before
    ray.kill(hold)  # the head's CPUs free for the shard that will lose its node
    running = thread.is_alive()
    cluster.remove_node(victim)
    assert running and len(before) < len(_expected_keys(LONG)), "the search ended first"
    _finish(thread, box)

    _assert_each_round_once(run_dir, LONG)
    _assert_kept(run_dir, before)
    # the shard that lost its node went on, from the head, where its rounds were left off
    placed = _commit_nodes(run_dir)
    moved = [s for s, v in placed.items() if v & lost and head in v]
    assert moved, (placed, lost)


def test_coordinator_killed_mid_run(cluster, tmp_path):
    import ray

    run_dir = str(tmp_path / "run")
    thread, box = _in_thread(lambda: pr.search(run_dir=run_dir, **LONG))
    before = _wait_for_commits(run_dir, 2, thread)
    names = [a for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("paretoray-coordinator-")]
    assert len(names) == 1, names
    actor = ray.get_actor(names[0]["name"], namespace=names[0]["namespace"])
    running = thread.is_alive()
    ray.kill(actor, no_restart=False)  # Ray restarts it; it reloads from the run directory
    assert running and len(before) < len(_expected_keys(LONG)), "the search ended first"
    _finish(thread, box)

    _assert_each_round_once(run_dir, LONG)
    _assert_kept(run_dir, before)
