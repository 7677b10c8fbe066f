"""Shards spread over nodes in proportion to what each node holds (no Ray needed).

The placement on a real two-node cluster is checked in ``test_multinode.py``; here the
assignment rule itself, against counts worked out by hand.
"""

from __future__ import annotations

from collections import Counter

import pytest

from paretoray.distributed.placement import Node, nodes_for, spread


def _node(node_id: str, alive: bool = True, **resources: float) -> dict:
    return {"NodeID": node_id, "Alive": alive, "Resources": resources}


def test_equal_nodes_take_turns():
    nodes = [Node("a", 2), Node("b", 2)]
    assert spread(2, nodes) == ["a", "b"]
    assert spread(4, nodes) == ["a", "b", "a", "b"]


def test_a_node_with_twice_the_slots_takes_twice_the_shards():
    nodes = [Node("small", 2), Node("big", 4)]
    counts = Counter(spread(6, nodes))
    assert counts == {"small": 2, "big": 4}
    # the larger node first on a tie, so two shards use both nodes at once
    assert spread(2, nodes) == ["big", "small"]


def test_past_the_cluster_slots_shards_keep_the_same_proportions():
    counts = Counter(spread(9, [Node("a", 1), Node("b", 2)]))
    assert counts == {"a": 3, "b": 6}


def test_no_node_that_fits_means_no_hint():
    assert spread(3, []) == [None, None, None]


def test_slots_count_every_resource_asked_for_and_skip_dead_nodes():
    cluster = [
        _node("head", CPU=8.0, GPU=1.0),
        _node("cpu-only", CPU=16.0),
        _node("gone", alive=False, CPU=64.0, GPU=8.0),
        _node("gpus", CPU=4.0, GPU=4.0),
    ]
    got = nodes_for({"cpu": 1.0, "gpu": 0.5}, cluster)
    # head: min(8/1, 1/0.5) = 2; cpu-only holds none; gpus: min(4/1, 4/0.5) = 4
    assert got == [Node("head", 2), Node("gpus", 4)]
    # fractions that divide exactly are not lost to rounding
    assert nodes_for({"cpu": 0.1}, [_node("n", CPU=0.3)]) == [Node("n", 3)]


@pytest.mark.parametrize("resources", [{}, {"cpu": 0, "gpu": 0}])
def test_nothing_asked_for_counts_as_tunes_one_cpu(resources):
    assert nodes_for(resources, [_node("n", CPU=3.0)]) == [Node("n", 3)]


def test_resources_no_live_node_can_hold_are_refused_naming_the_nodes():
    """The refusal before a run starts uses the same count as the spread: the GPU share a
    network shard is given is checked too, and a dead node's resources never count."""
    from paretoray.distributed.runner import check_resources
    from paretoray.errors import ConfigError

    cluster = [_node("a", CPU=4.0, GPU=0.0), _node("b", alive=False, CPU=8.0, GPU=2.0)]
    assert check_resources({"cpu": 0.5}, cluster) == [Node("a", 8)]
    with pytest.raises(ConfigError, match=r"resources=\{'cpu': 1.0, 'gpu': 0.5\} per worker "
                                          r"cannot be met.*nodes: cpu=4 gpu=0\)"):
        check_resources({"cpu": 1.0, "gpu": 0.5}, cluster)
    with pytest.raises(ConfigError, match=r"cannot be met.*nodes: none"):
        check_resources({"cpu": 1.0}, [])
