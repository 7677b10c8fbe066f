"""FAMO against the reference code's update rule (torch.optim.Adam on the logits)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from paretoray import algorithms
from paretoray.algorithms.famo import FAMO
from paretoray.errors import ConfigError


class ReferenceFAMO:
    """One member, written as the reference code (Liu et al. 2023, ``FAMO`` class)."""

    def __init__(self, m, min_losses, gamma=1e-3, w_lr=0.025):
        self.min_losses = min_losses
        self.w = torch.tensor([0.0] * m, requires_grad=True, dtype=torch.float64)
        self.w_opt = torch.optim.Adam([self.w], lr=w_lr, weight_decay=gamma)
        self.prev_loss = None

    def weights(self, losses):
        """The loss weights of ``backward``: d/dL of sum(log(L - L*) z / c)."""
        z = F.softmax(self.w, -1).detach()
        L = losses.clone().requires_grad_(True)
        D = L - self.min_losses + 1e-8
        c = (z / D).sum().detach()
        (g,) = torch.autograd.grad((D.log() * z / c).sum(), L)
        self.prev_loss = losses
        return g

    def update(self, curr_loss):
        delta = (self.prev_loss - self.min_losses + 1e-8).log() - (
            curr_loss - self.min_losses + 1e-8).log()
        with torch.enable_grad():
            d = torch.autograd.grad(F.softmax(self.w, -1), self.w, grad_outputs=delta.detach())[0]
        self.w_opt.zero_grad()
        self.w.grad = d
        self.w_opt.step()


def test_matches_reference_on_a_known_sequence():
    g = torch.Generator().manual_seed(0)
    p, m, T = 3, 3, 25
    # losses that fall at different rates per objective, with noise
    rates = torch.tensor([[0.9, 0.97, 0.99], [0.95, 0.95, 0.8], [0.99, 0.9, 0.93]])
    seq = [torch.rand(p, m, generator=g, dtype=torch.float64) + 1.0]
    for _ in range(T - 1):
        seq.append(seq[-1] * rates * (1 + 0.02 * torch.randn(p, m, generator=g)))
    low = torch.tensor([0.01, 0.0, 0.002], dtype=torch.float64)
    famo = FAMO(min_losses=low.tolist())
    refs = [ReferenceFAMO(m, low) for _ in range(p)]
    prefs = torch.full((p, m), 1 / m, dtype=torch.float64)
    for t, L in enumerate(seq):
        if t > 0:
            for i in range(p):
                refs[i].update(L[i])
        want = torch.stack([refs[i].weights(L[i]) for i in range(p)])
        torch.testing.assert_close(famo(L, prefs), want, rtol=1e-10, atol=1e-12)
    # the objective falling fastest (member 1: objective 2) ends with the least logit weight
    z = torch.softmax(famo.state_dict()["xi"], -1)
    assert z[1].argmin() == 2


def test_state_round_trip():
    a, b = FAMO(), FAMO()
    prefs = torch.full((2, 2), 0.5)
    for L in ([[1.0, 2.0], [3.0, 1.0]], [[0.5, 1.9], [2.0, 0.9]]):
        a(torch.tensor(L), prefs)
    b.load_state_dict(a.state_dict())
    L = torch.tensor([[0.4, 1.5], [1.0, 0.8]])
    torch.testing.assert_close(a(L, prefs), b(L, prefs), rtol=0, atol=0)


def test_registry_and_errors():
    assert isinstance(algorithms.get("famo"), FAMO)
    with pytest.raises(ConfigError, match="lr"):
        FAMO(lr=0)
