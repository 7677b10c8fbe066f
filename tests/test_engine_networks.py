"""The engine's network path: equal to P separate modules, spreads along the trade-off,
resets NaN members, and round-trips its state."""

from __future__ import annotations

import os

import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from paretoray import algorithms, problems
from paretoray.algorithms.base import Weighting
from paretoray.engine import Engine
from paretoray.errors import ConfigError, ShapeError
from paretoray.problems.networks import DataSplits, NetworkProblem

#: Where the populations live (``PARETORAY_TEST_DEVICE=cuda`` on a GPU machine).
DEVICE = os.environ.get("PARETORAY_TEST_DEVICE", "cpu")


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))


def _l1(out, batch):
    return ((out[:, 0] - batch["y"][:, 0]) ** 2).mean()


def _l2(out, batch):
    return ((out[:, 1] + out[:, 0] - batch["y"][:, 1]) ** 2).mean()


def _problem(batch_size: int = 8) -> NetworkProblem:
    g = torch.Generator().manual_seed(1)

    def split(n: int) -> dict[str, torch.Tensor]:
        return {"x": torch.randn(n, 4, generator=g, dtype=torch.float64),
                "y": torch.randn(n, 2, generator=g, dtype=torch.float64)}

    return NetworkProblem(_mlp, DataSplits(split(32), split(16)), [_l1, _l2],
                          batch_size=batch_size)


class Recorder(Weighting):
    """A real weighting (fixed weights ``prefs``) that keeps the Gram matrix it was given."""

    needs_gram = True

    def __init__(self) -> None:
        self.grams: list[torch.Tensor] = []

    def weights(self, values, prefs, /, gram=None, context=None):
        self.grams.append(gram.clone())
        return prefs.clone()


def _prefs(p: int) -> torch.Tensor:
    w = torch.linspace(0.1, 0.9, p, dtype=torch.float64)
    return torch.stack([w, 1 - w], dim=1)


@pytest.mark.parametrize("algorithm", ["linear", "recorder"])
def test_one_step_equals_p_separate_modules(algorithm: str) -> None:
    prob, p = _problem(), 4
    algo = Recorder() if algorithm == "recorder" else algorithm
    eng = Engine(prob, algo, _prefs(p), lr=0.1, optimizer="sgd", dtype=torch.float64,
                 device=DEVICE, seed=5)
    start = eng.member_params(torch.arange(p))
    # the batch the engine will draw: replay its sampler's stream from a copy of its state
    from paretoray.problems.networks.data import BatchSampler

    replay = BatchSampler(32, 8)
    replay.load_state_dict(eng._net.sampler.state_dict())
    idx = replay.next()
    batch = {k: v[idx] for k, v in prob.data.split("train").items()}
    eng.step()
    after = eng.member_params(torch.arange(p))
    for i in range(p):
        m = _mlp().double()
        m.load_state_dict({k: v[i] for k, v in start.items()})
        out = m(batch["x"])
        f = [_l1(out, batch), _l2(out, batch)]
        J = torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(
            fi, list(m.parameters()), retain_graph=True)]) for fi in f])  # m x n
        if algorithm == "recorder":
            torch.testing.assert_close(algo.grams[0][i].cpu(), J @ J.T, rtol=1e-10, atol=1e-12)
        w = _prefs(p)[i]
        torch.testing.assert_close(eng.prefs[i].cpu(), w)
        step = w @ J  # member i's direction, the per-module way
        flat_before = torch.cat([start[k][i].flatten() for k, _ in m.named_parameters()])
        flat_after = torch.cat([after[k][i].flatten() for k, _ in m.named_parameters()])
        torch.testing.assert_close(flat_after, flat_before - 0.1 * step, rtol=1e-10, atol=1e-12)


def test_epo_population_on_multi_digits_spreads_like_its_preferences() -> None:
    # EPO aligns the held-out losses with the preference ray (ALGORITHMS.md convention):
    # a larger pref[0] means a larger share of left loss, i.e. a LOWER left accuracy.
    # Check: Spearman(pref[0], left accuracy) <= -0.8 and Spearman(pref[0], right acc) >= 0.8.
    prob = problems.get("multi_digits", n_train=512, n_val=256, n_test=64)
    p = 8
    w = torch.linspace(0.05, 0.95, p, dtype=torch.float64)
    prefs = torch.stack([w, 1 - w], dim=1)
    eng = Engine(prob, "epo", prefs, lr=3e-3, seed=0, device=DEVICE)
    eng.run(200)
    _, F, finite = eng.evaluate()
    assert bool(finite.all())
    acc = eng.heldout_metrics()
    acc = {k: v.cpu() for k, v in acc.items()}
    rho_left = spearmanr(w.numpy(), acc["left_accuracy"].numpy()).statistic
    rho_right = spearmanr(w.numpy(), acc["right_accuracy"].numpy()).statistic
    assert rho_left <= -0.8, (rho_left, acc)
    assert rho_right >= 0.8, (rho_right, acc)
    # both extremes learned something (chance is 0.1), and the spread is wide
    assert float(acc["left_accuracy"][0]) > 0.5 and float(acc["right_accuracy"][-1]) > 0.5
    assert float(acc["left_accuracy"][0] - acc["left_accuracy"][-1]) > 0.2
    # the held-out losses themselves are ordered too
    assert spearmanr(w.numpy(), F[:, 0].cpu().numpy()).statistic >= 0.8


def test_nan_member_is_reset_counted_and_never_reported_finite() -> None:
    prob, p = _problem(), 4
    eng = Engine(prob, "epo", _prefs(p), lr=1e-2, dtype=torch.float64, device=DEVICE)
    eng.run(2)
    fallback = eng.member_params(torch.arange(p))
    eng.fallback_params = fallback
    poisoned = eng.member_params(torch.tensor([2]))
    poisoned["0.weight"][0, 0, 0] = float("nan")
    eng.load_members(torch.tensor([2]), poisoned)
    _, F, finite = eng.evaluate()
    assert finite.tolist() == [True, True, False, True]  # the NaN shows as not finite
    stats = eng.step()
    assert stats.nan_resets == 1 and eng.nan_resets == 1
    now = eng.member_params(torch.tensor([2]))
    for k, v in fallback.items():  # member 2 restarted from its fallback row
        torch.testing.assert_close(now[k][0], v[2])
    _, F, finite = eng.evaluate()
    assert bool(finite.all()) and bool(torch.isfinite(F).all())
    # without fallback rows: a fresh init (finite, different from the fallback)
    eng.fallback_params = None
    eng.load_members(torch.tensor([1]), poisoned)
    eng.step()
    fresh = eng.member_params(torch.tensor([1]))
    assert all(bool(torch.isfinite(v).all()) for v in fresh.values())
    assert not torch.equal(fresh["0.weight"][0], fallback["0.weight"][1])
    assert eng.nan_resets == 2


def test_state_dict_round_trip_continues_identically() -> None:
    prob = _problem()
    a = Engine(prob, "mgda", _prefs(3), lr=1e-2, dtype=torch.float64, device=DEVICE, seed=2)
    a.run(3)
    state = a.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("optim.") for k in state) and "param.0.weight" in state
    a.run(4)
    b = Engine(prob, "mgda", _prefs(3), lr=1e-2, dtype=torch.float64, device=DEVICE, seed=99)
    b.load_state_dict(state)
    b.run(4)
    for k, v in a.member_params(torch.arange(3)).items():
        torch.testing.assert_close(b.member_params(torch.arange(3))[k], v, rtol=0, atol=0)
    assert b.steps_done == a.steps_done == 7


def test_member_params_and_load_members_move_models_between_engines() -> None:
    prob = _problem()
    a = Engine(prob, "linear", _prefs(4), dtype=torch.float64, device=DEVICE, seed=0)
    a.run(3)
    b = Engine(prob, "linear", _prefs(4), dtype=torch.float64, device=DEVICE, seed=1)
    b.load_members(torch.tensor([0, 3]), a.member_params(torch.tensor([3, 1])))
    Fa, Fb = a.evaluate()[1], b.evaluate()[1]
    torch.testing.assert_close(Fb[[0, 3]], Fa[[3, 1]], rtol=0, atol=0)
    with pytest.raises(ShapeError, match="lack"):
        b.load_members(torch.tensor([0]), {"0.weight": torch.zeros(1, 6, 4)})
    with pytest.raises(ShapeError, match=r"Expected `0.weight` of shape \(1, 6, 4\)"):
        b.load_members(torch.tensor([0]), {k: v[:, None] for k, v in
                                           a.member_params(torch.tensor([0])).items()})
    with pytest.raises(ConfigError, match="for network problems"):
        Engine("zdt1", "linear", _prefs(2), device="cpu").member_params(torch.tensor([0]))
    with pytest.raises(ConfigError, match="load_members"):
        Engine(prob, "linear", _prefs(2), device=DEVICE, x0=torch.zeros(2, 3))


def test_minibatches_advance_every_step() -> None:
    prob = _problem(batch_size=8)
    eng = Engine(prob, "linear", _prefs(2), dtype=torch.float64, device=DEVICE)
    seen = []
    for _ in range(4):  # one epoch of 32 samples in batches of 8: each sample once
        seen.append(eng._net.sampler._perm[eng._net.sampler._pos:eng._net.sampler._pos + 8])
        eng.step()
    assert sorted(torch.cat(seen).tolist()) == list(range(32))


@pytest.mark.parametrize("name", algorithms.names())
def test_every_weighting_steps_a_network_population(name: str) -> None:
    # every registered weighting goes through the network path (Gram or not) and moves
    # every member by a finite step (set methods such as som / tch_set may leave a member
    # that serves no objective where it is: there, some member moves)
    prob = _problem()
    eng = Engine(prob, name, _prefs(4), lr=1e-2, dtype=torch.float64, device=DEVICE, seed=0)
    before = eng.member_params(torch.arange(4))
    eng.run(2)
    after = eng.member_params(torch.arange(4))
    assert eng.nan_resets == 0 and bool(eng.evaluate()[2].all())
    moved = sum((after[k] - before[k]).flatten(1).abs().sum(1) for k in before)
    assert bool(torch.isfinite(moved).all()), moved
    if algorithms.get(name).per_member:
        assert bool((moved > 0).all()), moved
    else:
        assert bool((moved > 0).any()), moved


def test_heldout_reads_any_split_and_evaluate_reads_validation() -> None:
    prob = problems.get("multi_digits", n_train=128, n_val=64, n_test=32)
    eng = Engine(prob, "linear", _prefs(3), device=DEVICE)
    eng.run(2)
    _, F, _ = eng.evaluate()
    Fv, mv = eng.heldout("validation")
    Ft, mt = eng.heldout("test")
    torch.testing.assert_close(Fv, F, rtol=0, atol=0)
    torch.testing.assert_close(mv["left_accuracy"], eng.heldout_metrics()["left_accuracy"])
    # the test split's accuracies are fractions of its 32 samples, by a separate module
    model = prob.build_model({k: v[1] for k, v in eng.member_params(torch.arange(3)).items()})
    te = prob.data.split("test")
    with torch.no_grad():
        left, _ = model(te["x"])
    assert float(mt["left_accuracy"][1]) == pytest.approx(
        float((left.argmax(-1) == te["y_left"]).float().mean()), abs=1e-6)
    assert Ft.shape == (3, 2)
