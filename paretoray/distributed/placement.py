"""Where each shard's trial asks to run: spread over the cluster's nodes, as a soft hint.

Ray places a one-bundle placement group best-fit: on a node that already runs a shard
when it still has room, so without a hint every shard of a two-node cluster can land on
the first node while the second idles. :func:`spread` assigns the shards to nodes in
proportion to how many each node can hold; :func:`trial_resources` turns that into each
trial's placement group with the node as a *soft* target, so a trial whose node is full
or gone (a node lost mid-run, a restart) is placed anywhere that fits instead of waiting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Tune's lower-case resource names, as Ray's nodes report them.
_RAY_NAMES = {"cpu": "CPU", "gpu": "GPU"}


@dataclass(frozen=True)
class Node:
    """A live node of the cluster and how many shards it can hold at once."""

    node_id: str
    slots: int


def nodes_for(resources: Mapping[str, float],
              cluster: Sequence[Mapping[str, Any]]) -> list[Node]:
    """The live nodes of ``cluster`` (``ray.nodes()`` entries) that can hold a shard
    asking for ``resources`` (Tune's names: ``cpu``, ``gpu``, custom ones as they are),
    in the order Ray lists them, each with the number of such shards it holds at once."""
    want = {_RAY_NAMES.get(k, k): float(v) for k, v in resources.items() if v}
    want = want or {"CPU": 1.0}  # what Tune asks for when nothing is
    out = []
    for entry in cluster:
        if not entry.get("Alive"):
            continue
        have = entry.get("Resources", {})
        slots = min(math.floor(float(have.get(k, 0.0)) / v + 1e-9) for k, v in want.items())
        if slots >= 1:
            out.append(Node(str(entry["NodeID"]), int(slots)))
    return out


def spread(shards: int, nodes: Sequence[Node]) -> list[str | None]:
    """The node each of ``shards`` shards should run on: each next shard goes to the node
    least filled relative to its slots (ties: the larger node, then the first listed), so
    equal nodes take turns and a node with twice the slots takes twice the shards.

    Past the cluster's slots the shards keep being spread the same way (they queue on
    their nodes). With no node that can hold a shard every entry is ``None``: no hint."""
    if not nodes:
        return [None] * shards
    taken = [0] * len(nodes)
    out: list[str | None] = []
    for _ in range(shards):
        i = min(range(len(nodes)),
                key=lambda j: (taken[j] / nodes[j].slots, -nodes[j].slots, j))
        taken[i] += 1
        out.append(nodes[i].node_id)
    return out


def trial_resources(resources: Mapping[str, float],
                    targets: Sequence[str | None]) -> Callable[[dict], Any]:
    """Tune's per-trial resource request: ``resources`` for every trial, on the node
    ``targets[config["shard"]]`` when it has room (a soft target: Ray places the trial
    elsewhere when that node is full or gone)."""
    from ray.tune.execution.placement_groups import (
        PlacementGroupFactory,
        resource_dict_to_pg_factory,
    )

    bundles = resource_dict_to_pg_factory(dict(resources)).bundles

    def request(config: dict) -> PlacementGroupFactory:
        node = targets[int(config["shard"])]
        if node is None:
            return PlacementGroupFactory(bundles)
        # one bundle: STRICT_PACK places it as PACK does; Ray takes a soft target only there
        return PlacementGroupFactory(bundles, strategy="STRICT_PACK",
                                     _soft_target_node_id=node)

    return request
