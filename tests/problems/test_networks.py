"""Network problems: the vmapped population equals P separate modules; bad input is named."""

from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from paretoray import problems
from paretoray.errors import ConfigError, ShapeError
from paretoray.problems.networks import DataSplits, NetworkProblem, resolve_factory
from paretoray.problems.networks.base import _factory_name

BUILTIN_NETWORKS = {"multi_digits": 2, "fairness": 2, "multi_regression": 3}


def _small(name: str) -> NetworkProblem:
    opts = {"multi_digits": {"n_train": 128, "n_val": 64, "n_test": 64}}.get(name, {})
    return problems.get(name, **opts)


@pytest.mark.parametrize("name", sorted(BUILTIN_NETWORKS))
def test_builtins_are_registered_seeded_and_split(name: str) -> None:
    prob = _small(name)
    assert prob.name == name and prob.n_obj == BUILTIN_NETWORKS[name]
    assert problems.get(prob) is prob  # instances pass through like vector problems
    again = _small(name)
    for split in ("train", "validation", "test"):
        a, b = prob.data.split(split), again.data.split(split)
        assert all(torch.equal(a[k], b[k]) for k in a)  # same seed, same data
    other = problems.get(name, seed=1)
    assert not torch.equal(other.data.split("train")["x"][:8], prob.data.split("train")["x"][:8])
    tr, va = prob.data.split("train")["x"], prob.data.split("validation")["x"]
    # no held-out sample is a training sample
    assert not bool((torch.cdist(va.flatten(1), tr.flatten(1)) == 0).any())
    assert len(prob.metric_names) >= 1 and len(prob.ref_point) == prob.n_obj


def test_multi_digits_labels_belong_to_the_images() -> None:
    # an independent learner (sklearn's logistic regression on raw pixels) predicts both
    # labels of held-out images far above chance (10%): the labels belong to the digits drawn
    from sklearn.linear_model import LogisticRegression

    prob = problems.get("multi_digits", n_train=1024, n_val=256, n_test=64)
    tr, va = prob.data.split("train"), prob.data.split("validation")
    for key in ("y_left", "y_right"):
        clf = LogisticRegression(max_iter=300).fit(tr["x"].flatten(1).numpy(), tr[key].numpy())
        assert clf.score(va["x"].flatten(1).numpy(), va[key].numpy()) > 0.5, key


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))


def _data(n: int = 40, d: int = 5, dtype=torch.float64) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    split = lambda: {"x": torch.randn(n, d, generator=g, dtype=dtype),  # noqa: E731
                     "y": torch.randn(n, 2, generator=g, dtype=dtype)}
    return DataSplits(train=split(), validation=split(), test=split())


def _l1(out, batch):
    return ((out[:, 0] - batch["y"][:, 0]) ** 2).mean()


def _l2(out, batch):
    return (out[:, 1] - batch["y"][:, 1]).abs().mean() + (out**2).mean()


def test_vmapped_losses_and_gradients_equal_separate_modules() -> None:
    prob = NetworkProblem(_mlp, _data(), [_l1, _l2], batch_size=16)
    p = 5
    params, buffers = prob.init_params(p, seed=3, dtype=torch.float64)
    params = {k: v.requires_grad_(True) for k, v in params.items()}
    batch = {k: v[:16] for k, v in prob.data.split("train").items()}
    Fv = prob.losses(params, buffers, batch)
    assert Fv.shape == (p, 2)
    # reference: P separate modules holding the same weights, a Python loop, plain autograd
    mods = []
    for i in range(p):
        m = _mlp().double()
        m.load_state_dict({k: v[i].detach() for k, v in params.items()})
        mods.append(m)
    F_ref = torch.stack([torch.stack([_l1(m(batch["x"]), batch), _l2(m(batch["x"]), batch)])
                         for m in mods])
    torch.testing.assert_close(Fv, F_ref, rtol=1e-12, atol=1e-12)
    for i in range(2):
        grads = torch.autograd.grad(Fv[:, i].sum(), list(params.values()), retain_graph=True)
        for j, m in enumerate(mods):
            ref = torch.autograd.grad([_l1, _l2][i](m(batch["x"]), batch), list(m.parameters()))
            for g, r in zip(grads, ref, strict=True):
                torch.testing.assert_close(g[j], r, rtol=1e-12, atol=1e-12)
    # held-out values in eval mode equal the separate modules' too
    Fh, _ = prob.heldout_values(params, buffers)
    va = prob.data.split("validation")
    ref = torch.stack([torch.stack([_l1(m(va["x"]), va), _l2(m(va["x"]), va)]) for m in mods])
    torch.testing.assert_close(Fh, ref, rtol=1e-12, atol=1e-12)


def _bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.0),
                         nn.Linear(6, 2))


def test_batchnorm_running_stats_update_per_member_like_separate_modules() -> None:
    prob = NetworkProblem(_bn_net, _data(), [_l1, _l2])
    params, buffers = prob.init_params(3, seed=0, dtype=torch.float64)
    batch = {k: v[:16] for k, v in prob.data.split("train").items()}
    prob.losses(params, buffers, batch)
    params = {k: v + 0.1 * torch.arange(3, dtype=v.dtype).view(-1, *[1] * (v.dim() - 1))
              for k, v in params.items()}
    before = {k: v.clone() for k, v in buffers.items()}
    prob.losses(params, buffers, batch)
    for i in range(3):
        m = _bn_net().double().train()
        m.load_state_dict({**{k: v[i] for k, v in params.items()},
                           **{k: v[i] for k, v in before.items()}})
        m(batch["x"])
        torch.testing.assert_close(buffers["1.running_mean"][i], m[1].running_mean)
        torch.testing.assert_close(buffers["1.running_var"][i], m[1].running_var)
    assert int(buffers["1.num_batches_tracked"][0]) == 2


def test_dropout_draws_different_masks_per_member() -> None:
    def net() -> nn.Module:
        return nn.Sequential(nn.Linear(5, 64), nn.Dropout(0.5), nn.Linear(64, 2))

    prob = NetworkProblem(net, _data(), [_l1, _l2])
    params, buffers = prob.init_params(1, seed=0)
    same = {k: v.expand(4, *v.shape[1:]).clone() for k, v in params.items()}
    batch = {k: v[:16].float() for k, v in prob.data.split("train").items()}
    Fv = prob.losses(same, buffers, batch)
    assert len(set(Fv[:, 0].tolist())) == 4  # identical weights, different dropout masks
    F1, _ = prob.heldout_values(same, buffers)
    assert torch.equal(F1[0], F1[3])  # eval mode: no dropout, identical members agree


# ---------------------------------------------------------------------- bad input
def test_loss_count_differs_from_n_obj() -> None:
    with pytest.raises(ConfigError, match="holds 2 functions but n_obj=3"):
        NetworkProblem(_mlp, _data(), [_l1, _l2], n_obj=3)
    with pytest.raises(ConfigError, match="return 3 values but the problem has n_obj=2"):
        NetworkProblem(_mlp, _data(), lambda out, b: torch.stack([_l1(out, b)] * 3), n_obj=2)


def test_batch_that_does_not_fit_the_model_names_shapes() -> None:
    bad = _data(d=4)
    with pytest.raises(ShapeError, match=r"with shape \(batch,\) \+ \(4,\).*mat1 and mat2"):
        NetworkProblem(_mlp, bad, [_l1, _l2])


def test_parameters_vmap_cannot_batch() -> None:
    with pytest.raises(ConfigError, match="lazy"):
        NetworkProblem(lambda: nn.Sequential(nn.LazyLinear(2)), _data(), [_l1, _l2])

    class Frozen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(5, 2)
            self.lin.bias.requires_grad_(False)

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(ConfigError, match=r"frozen parameter 'lin\.bias'"):
        NetworkProblem(Frozen, _data(), [_l1, _l2])

    class ItemCall(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(5, 2)

        def forward(self, x):
            return self.lin(x) * float(self.lin.weight.sum().item() > 0)  # host sync

    with pytest.raises(ConfigError, match="vmap cannot batch"):
        NetworkProblem(ItemCall, _data(), [_l1, _l2])

    sizes = iter(range(3, 100))
    with pytest.raises(ConfigError, match="same architecture"):
        prob = NetworkProblem(lambda: nn.Linear(5, 2), _data(), [_l1, _l2])
        prob.factory = lambda: nn.Sequential(nn.Linear(5, next(sizes)))
        prob.init_params(2, seed=0)


def test_factory_by_import_path(tmp_path, monkeypatch) -> None:
    mod = types.ModuleType("paretoray_user_models")
    mod.make = _mlp
    monkeypatch.setitem(sys.modules, "paretoray_user_models", mod)
    assert resolve_factory("paretoray_user_models:make") is _mlp
    prob = NetworkProblem("paretoray_user_models:make", _data(), [_l1, _l2])
    assert prob.model_path == "paretoray_user_models:make" and prob.n_params == 5 * 7 + 7 + 16
    with pytest.raises(ConfigError, match=r"importing module 'no_such_pkg_xyz\.models' failed"):
        resolve_factory("no_such_pkg_xyz.models:make")
    with pytest.raises(ConfigError, match="has no attribute 'nope'"):
        resolve_factory("paretoray_user_models:nope")
    with pytest.raises(ConfigError, match=r"must look like 'package\.module:factory'"):
        resolve_factory("paretoray_user_models.make")
    assert _factory_name(_mlp).endswith(":_mlp")


def test_factory_that_raises_or_returns_no_module() -> None:
    def boom() -> nn.Module:
        raise RuntimeError("no GPU kernels")

    with pytest.raises(ConfigError, match="raised RuntimeError: no GPU kernels"):
        NetworkProblem(boom, _data(), [_l1, _l2])
    with pytest.raises(ConfigError, match="returned a int"):
        NetworkProblem(lambda: 3, _data(), [_l1, _l2])


def test_data_splits_are_checked() -> None:
    x = torch.zeros(4, 5)
    with pytest.raises(ConfigError, match="no 'x' entry"):
        DataSplits(train={"inp": x}, validation={"inp": x})
    with pytest.raises(ShapeError, match=r"`train\['y'\]` has 3"):
        DataSplits(train={"x": x, "y": torch.zeros(3)}, validation={"x": x, "y": torch.zeros(4)})
    with pytest.raises(ConfigError, match="same entries"):
        DataSplits(train={"x": x, "y": torch.zeros(4)}, validation={"x": x})
    with pytest.raises(ConfigError, match="no 'test' split"):
        DataSplits(train={"x": x}, validation={"x": x}).split("test")


def test_fairness_conflict_is_real() -> None:
    # the Bayes-like classifier that uses the sensitive attribute has a large DP gap, the
    # constant classifier none: accuracy and parity really conflict in this data
    prob = _small("fairness")
    va = prob.data.split("validation")
    y, s = va["y"], va["s"]
    rate1, rate0 = float(y[s == 1].mean()), float(y[s == 0].mean())
    assert rate1 - rate0 > 0.4  # base rates differ by group
    assert F.binary_cross_entropy(torch.full_like(y, 0.5), y) > 0.69


@pytest.mark.parametrize("name", sorted(BUILTIN_NETWORKS))
def test_problems_pickle_without_device_copies(name: str) -> None:
    # Ray ships problems to workers with pickle: the copy computes the same losses and
    # carries no cached (possibly GPU) data copies
    import pickle

    prob = _small(name)
    prob.data_on("train", "cpu", torch.float64)
    blob = pickle.dumps(prob)
    copy = pickle.loads(blob)
    assert copy._data_cache == {}
    params, buffers = prob.init_params(3, seed=1)
    batch = {k: v[:16] for k, v in prob.data.split("train").items()}
    torch.testing.assert_close(copy.losses(params, buffers, batch),
                               prob.losses(params, buffers, batch), rtol=0, atol=0)


def test_fairness_population_trades_accuracy_for_parity() -> None:
    # EPO members aimed from "mostly CE" to "mostly DP gap" (pref = the ray the losses align
    # with, so a larger pref[0] means a larger share of CE, i.e. a smaller DP gap): on the
    # held-out split the hard DP gap falls and the accuracy falls with it (Spearman <= -0.8
    # for both against pref[0]), and the two ends differ by a wide margin.
    from scipy.stats import spearmanr

    from paretoray.engine import Engine

    w = torch.linspace(0.05, 0.95, 8, dtype=torch.float64)
    eng = Engine(problems.get("fairness"), "epo", torch.stack([w, 1 - w], 1), lr=1e-2,
                 seed=0, device="cpu")
    eng.run(200)
    met = eng.heldout_metrics()
    assert spearmanr(w.numpy(), met["dp_gap"].numpy()).statistic <= -0.8, met
    assert spearmanr(w.numpy(), met["accuracy"].numpy()).statistic <= -0.8, met
    assert float(met["dp_gap"][0] - met["dp_gap"][-1]) > 0.2
    assert float(met["accuracy"][0] - met["accuracy"][-1]) > 0.05
