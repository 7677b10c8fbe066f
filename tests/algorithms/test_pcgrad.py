"""PCGrad against TorchJD's PCGrad with the same projection orders; seeded reproducibility."""

from __future__ import annotations

import pytest
import torch
from _torchjd import MS, assert_close_rel, jacobians, torchjd_aggregation

from paretoray import algorithms
from paretoray.algorithms.pcgrad import PCGrad, pcgrad_weights
from paretoray.errors import ConfigError


@pytest.mark.parametrize("m", MS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torchjd_pcgrad_with_its_orders(m, seed):
    J = jacobians(m, seed)
    orders, ref = [], []
    for i in range(J.shape[0]):  # replay TorchJD's torch.randperm calls
        torch.manual_seed(100 * seed + i)
        orders.append(torch.stack([torch.randperm(m) for _ in range(m)]))
        torch.manual_seed(100 * seed + i)
        ref.append(torchjd_aggregation.PCGrad()(J[i]))
    alpha = pcgrad_weights(J @ J.mT, torch.stack(orders))
    assert_close_rel(torch.einsum("pm,pmn->pn", alpha, J), torch.stack(ref), 1e-12)


def test_m2_is_order_free_and_reproducible():
    J = jacobians(2, 0)
    v, pr = torch.ones(4, 2, dtype=J.dtype), torch.full((4, 2), 0.5, dtype=J.dtype)
    a = PCGrad(order="fixed")(v, pr, gram=J @ J.mT)
    b = PCGrad(seed=3)(v, pr, gram=J @ J.mT)
    torch.testing.assert_close(a, b)  # with two objectives the order does not matter
    J = jacobians(4, 1)
    w1, w2 = PCGrad(seed=5), PCGrad(seed=5)
    state = w1.state_dict()
    first = w1(torch.ones(4, 4, dtype=J.dtype), torch.full((4, 4), 0.25, dtype=J.dtype),
               gram=J @ J.mT)
    w2.load_state_dict(state)
    again = w2(torch.ones(4, 4, dtype=J.dtype), torch.full((4, 4), 0.25, dtype=J.dtype),
               gram=J @ J.mT)
    torch.testing.assert_close(first, again, rtol=0, atol=0)


def test_registry_and_errors():
    assert isinstance(algorithms.get("pcgrad"), PCGrad)
    with pytest.raises(ConfigError, match="order"):
        PCGrad(order="sorted")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("m", [2, 3, 5])
def test_batched_equals_per_member_loop(dtype, m):
    from _checks import assert_batched_matches_loop, random_inputs

    values, prefs, gram = random_inputs(12, m, dtype=dtype, seed=m)
    atol = 1e-4 if dtype == torch.float32 else 1e-9
    assert_batched_matches_loop(PCGrad(order="fixed"), values.abs() + 0.1, prefs, gram, atol=atol)
