"""The batched engine: one program for the population, equal to the per-member loop."""

from __future__ import annotations

import pytest
import torch

from paretoray import engine as eng
from paretoray.algorithms.base import Weighting
from paretoray.errors import BoundsError, PreferenceError, ShapeError, UnknownNameError
from paretoray.problems import Problem


class Quadratics(Problem):
    """f_i(x) = ||x - a_i||^2 with a_1 = e_1, a_2 = e_2 (the convex toy of ALGORITHMS.md §2)."""

    def __init__(self, d: int = 3, nan_above: float | None = None) -> None:
        self.n_var, self.n_obj = d, 2
        self.xl = -2 * torch.ones(d, dtype=torch.float64)
        self.xu = 2 * torch.ones(d, dtype=torch.float64)
        a = torch.zeros(2, d, dtype=torch.float64)
        a[0, 0] = a[1, 1] = 1.0
        self.a = a
        self.nan_above = nan_above

    def _evaluate(self, x):
        F = ((x[:, None, :] - self.a.to(x)) ** 2).sum(-1)
        if self.nan_above is not None:
            F = torch.where(x[:, :1] > self.nan_above, torch.full_like(F, float("nan")), F)
        return F


class FixedWeights(Weighting):
    """Weights = prefs; optionally asks for the Gram matrix (to test both engine paths)."""

    def __init__(self, gram: bool) -> None:
        self.gram = gram

    @property
    def needs_gram(self):  # type: ignore[override]
        return self.gram

    def weights(self, values, prefs, /, gram=None, context=None):
        if self.gram:
            assert gram is not None and gram.shape == (values.shape[0], 2, 2)
        return prefs.clone()


@pytest.mark.parametrize("gram", [False, True])
def test_step_equals_per_member_loop(gram):
    """One batched SGD step moves each member exactly as its own gradient step would."""
    problem = Quadratics()
    prefs = torch.tensor([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1], [0.3, 0.7]], dtype=torch.float64)
    x0 = problem.sample(4, generator=torch.Generator().manual_seed(1)) * 0.5
    e = eng.Engine(problem, FixedWeights(gram), prefs, x0=x0, lr=0.05, optimizer="sgd",
                   device="cpu")
    e.step()
    for p in range(4):
        xp = x0[p:p + 1].clone().requires_grad_(True)
        F = problem.evaluate(xp)
        (g,) = torch.autograd.grad((prefs[p] * F[0]).sum(), xp)
        expected = problem.project(xp.detach() - 0.05 * g)
        torch.testing.assert_close(e.x.detach()[p:p + 1], expected, rtol=1e-12, atol=1e-12)


def test_run_converges_linear_scalarization_closed_form():
    """Linear weights w on f_i = ||x - a_i||^2: the minimizer is sum w_i a_i (w on simplex)."""
    problem = Quadratics()
    prefs = torch.tensor([[0.25, 0.75], [0.6, 0.4]], dtype=torch.float64)
    x, F = eng.run(problem, FixedWeights(False), prefs, steps=400, lr=0.1, optimizer="sgd",
                   device="cpu")
    expected = prefs @ problem.a
    torch.testing.assert_close(x, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(F, problem.evaluate(expected), atol=1e-6, rtol=0)


def test_nan_members_are_reset_counted_and_never_reported_finite():
    problem = Quadratics(nan_above=0.5)
    prefs = torch.full((64, 2), 0.5, dtype=torch.float64)
    e = eng.Engine(problem, FixedWeights(True), prefs, lr=0.01, seed=3, device="cpu")
    stats = e.run(5)
    assert stats.nan_resets > 0
    assert e.nan_resets == stats.nan_resets
    x, F, finite = e.evaluate()
    assert torch.isfinite(x).all()
    assert not torch.isnan(F[finite]).any()
    # members whose x1 > 0.5 are exactly those reported non-finite
    assert torch.equal(~finite, x[:, 0] > 0.5)


def test_box_projection_holds():
    problem = Quadratics()
    prefs = torch.full((8, 2), 0.5, dtype=torch.float64)
    x0 = torch.full((8, 3), 1.99, dtype=torch.float64)
    e = eng.Engine(problem, FixedWeights(False), prefs, x0=x0, lr=10.0, optimizer="sgd",
                   device="cpu")
    e.run(3)
    assert (e.x >= problem.xl).all() and (e.x <= problem.xu).all()


def test_state_dict_round_trip_continues_identically():
    problem = Quadratics()
    prefs = torch.tensor([[0.3, 0.7], [0.8, 0.2]], dtype=torch.float64)
    a = eng.Engine(problem, FixedWeights(False), prefs, lr=0.05, seed=5, device="cpu")
    a.run(3)
    b = eng.Engine(problem, FixedWeights(False), prefs, lr=0.05, seed=99, device="cpu")
    b.load_state_dict(a.state_dict())
    a.run(4)
    b.run(4)
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)


def test_bad_input_names_value_and_allowed():
    problem = Quadratics()
    good = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    with pytest.raises(UnknownNameError, match=r"'adamm'.*adam"):
        eng.Engine(problem, FixedWeights(False), good, optimizer="adamm")
    with pytest.raises(PreferenceError):
        eng.Engine(problem, FixedWeights(False), torch.tensor([[0.5, 0.3, 0.2]]))
    with pytest.raises(PreferenceError):
        eng.Engine(problem, FixedWeights(False), torch.tensor([[-0.5, 1.5]]))
    with pytest.raises(BoundsError, match=r"allowed \[-2, 2\]"):
        eng.Engine(problem, FixedWeights(False), good, x0=torch.full((1, 3), 3.0))
    with pytest.raises(ShapeError):
        eng.Engine(problem, FixedWeights(False), good, x0=torch.zeros(2, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_cuda_step_matches_cpu():
    problem = Quadratics()
    prefs = torch.rand(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x0 = problem.sample(32, generator=torch.Generator().manual_seed(2))
    xc, Fc = eng.run(problem, FixedWeights(True), prefs, 20, lr=0.05, x0=x0, device="cpu")
    xg, Fg = eng.run(problem, FixedWeights(True), prefs, 20, lr=0.05, x0=x0, device="cuda")
    torch.testing.assert_close(xc, xg, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(Fc, Fg, rtol=1e-9, atol=1e-9)


class _TorchAdam(torch.optim.Adam):
    """torch's own Adam.step (the engine inlines the update only for Adam itself)."""


@pytest.mark.parametrize("gram", [False, True])
def test_inlined_adam_equals_torch_adam(gram):
    """The engine's inlined update on the CPU leaves x and the optimizer state exactly as
    ``torch.optim.Adam(fused=True).step`` does, state_dict included, and as the default
    ``torch.optim.Adam.step`` to the last bits."""
    problem = Quadratics()
    prefs = torch.tensor([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    kw = {"lr": 0.05, "seed": 4, "device": "cpu"}
    betas = {"betas": (0.8, 0.99)}
    a = eng.Engine(problem, FixedWeights(gram), prefs, optimizer_options=betas, **kw)
    fused = eng.Engine(problem, FixedWeights(gram), prefs, optimizer=_TorchAdam,
                       optimizer_options={**betas, "fused": True}, **kw)
    plain = eng.Engine(problem, FixedWeights(gram), prefs, optimizer=_TorchAdam,
                       optimizer_options=betas, **kw)
    assert a._adam is not None and fused._adam is None and plain._adam is None
    for e in (a, fused, plain):
        e.run(25)
    sa, sf, sp = a.state_dict(), fused.state_dict(), plain.state_dict()
    assert sorted(sa) == sorted(sf) == sorted(sp)
    for key in sa:
        if key.endswith("step"):  # a count: fused Adam keeps it in float32
            assert float(sa[key]) == float(sf[key]) == float(sp[key]) == 25
            continue
        torch.testing.assert_close(sa[key], sf[key], rtol=0, atol=0)
        torch.testing.assert_close(sa[key], sp[key], rtol=1e-12, atol=1e-15)


def test_plain_adam_builds_no_torch_optimizer_until_asked_for():
    """Plain Adam runs on state the engine keeps (building a torch optimizer imports
    torch._dynamo, ~1 s of CPU per worker process); `engine.optimizer` builds one on the
    same state when asked for, mid-run, and its options rule from then on; a checkpoint of
    a torch-backed engine continues the same in a plain one."""
    import subprocess
    import sys

    code = ("import sys, torch\n"
            "from paretoray.engine import Engine\n"
            "e = Engine('zdt1', 'epo', torch.tensor([[0.3, 0.7], [0.6, 0.4]]), lr=0.01)\n"
            "e.run(5); e.reset_members(torch.tensor([True, False])); e.state_dict()\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

    problem = Quadratics()
    prefs = torch.tensor([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    kw = {"lr": 0.05, "seed": 4, "device": "cpu"}
    asked, never = eng.Engine(problem, FixedWeights(True), prefs, **kw), \
        eng.Engine(problem, FixedWeights(True), prefs, **kw)
    asked.run(10)
    opt = asked.optimizer
    assert type(opt) is torch.optim.Adam and float(opt.state[asked.x]["step"]) == 10
    asked.run(10)
    never.run(20)
    torch.testing.assert_close(asked.x, never.x, rtol=0, atol=0)
    assert float(asked.optimizer.state[asked.x]["step"]) == 20
    opt.param_groups[0]["lr"] = 0.0  # the torch optimizer's options rule now
    before = asked.x.detach().clone()
    asked.run(3)
    torch.testing.assert_close(asked.x, before, rtol=0, atol=0)

    backed = eng.Engine(problem, FixedWeights(True), prefs, optimizer=_TorchAdam, **kw)
    backed.run(7)
    plain = eng.Engine(problem, FixedWeights(True), prefs, **kw)
    plain.load_state_dict(backed.state_dict())
    backed.run(5)
    plain.run(5)
    torch.testing.assert_close(plain.x, backed.x, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        eng.Engine(problem, FixedWeights(True), prefs, optimizer_options={"eps": -1.0})
    with pytest.raises(ValueError, match="Invalid beta parameters"):
        eng.Engine(problem, FixedWeights(True), prefs, optimizer_options={"betas": (0.9, 1.0)})


def test_sync_free_steps_equal_the_cpu_steps():
    """The path used off the CPU (no host sync per step) takes the same steps."""
    problem = Quadratics()
    prefs = torch.tensor([[0.3, 0.7], [0.8, 0.2], [0.5, 0.5]], dtype=torch.float64)
    a = eng.Engine(problem, FixedWeights(True), prefs, lr=0.05, seed=5, device="cpu")
    b = eng.Engine(problem, FixedWeights(True), prefs, lr=0.05, seed=5, device="cpu")
    b._sync_free = True
    assert a.run(6).nan_resets == b.run(6).nan_resets == 0
    torch.testing.assert_close(a.x, b.x, rtol=0, atol=0)


def test_sync_free_nan_members_are_reset_counted_and_never_reported_finite():
    problem = Quadratics(nan_above=0.5)
    prefs = torch.full((64, 2), 0.5, dtype=torch.float64)
    e = eng.Engine(problem, FixedWeights(False), prefs, lr=0.01, seed=3, device="cpu")
    e._sync_free = True
    x0 = e.x.detach().clone()
    stats = e.run(5)
    # members starting above 0.5 have NaN values at the first step: reset, counted
    assert stats.nan_resets >= int((x0[:, 0] > 0.5).sum()) > 0
    assert e.nan_resets == stats.nan_resets
    assert not bool(e.optimizer.state[e.x]["exp_avg"].isnan().any())
    x, F, finite = e.evaluate()
    assert torch.isfinite(x).all()
    assert not torch.isnan(F[finite]).any()
    assert torch.equal(~finite, x[:, 0] > 0.5)


def test_hv_by_name_or_object_uses_the_problems_reference_point():
    """Engine(problem, "hv") steers by ``problem.ref_point`` (as ``search`` does), an HV
    object without one is copied with it, and ``ref_point="dynamic"`` opts out."""
    from paretoray import problems
    from paretoray.algorithms.hypervolume import HV

    problem = problems.get("zdt1")
    prefs = torch.full((8, 2), 0.5, dtype=torch.float64)
    x0 = problem.sample(8, generator=torch.Generator().manual_seed(0))
    mine = HV()
    by_name = eng.Engine(problem, "hv", prefs, x0=x0, device="cpu")
    by_obj = eng.Engine(problem, mine, prefs, x0=x0, device="cpu")
    fixed = eng.Engine(problem, HV(ref_point=[1.1, 1.1]), prefs, x0=x0, device="cpu")
    dynamic = eng.Engine(problem, HV(ref_point="dynamic"), prefs, x0=x0, device="cpu")
    assert by_name.algorithm.ref_point == by_obj.algorithm.ref_point == list(problem.ref_point)
    assert mine.ref_point is None and dynamic.algorithm.ref_point is None
    for e in (by_name, by_obj, fixed, dynamic):
        e.run(20)
    torch.testing.assert_close(by_name.x, fixed.x, rtol=0, atol=0)
    torch.testing.assert_close(by_obj.x, fixed.x, rtol=0, atol=0)
    assert not torch.equal(dynamic.x, fixed.x)
