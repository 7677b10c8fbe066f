"""Tests of paretoray/preferences/adapters/: fixed, adaptive, uniform, ehvi, initial_prefs."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import torch

from paretoray.errors import ConfigError, PreferenceError, ShapeError, UnknownNameError
from paretoray.preferences import adapters as A
from paretoray.preferences.adapters import initial_prefs

BUILTIN = ["adaptive", "ehvi", "fixed", "uniform"]
# Small EHVI settings: the behaviour is the same, the tests stay fast.
FAST = {
    "adaptive": {},
    "fixed": {},
    "uniform": {"steps": 100},
    "ehvi": {"max_points": 12, "mc_samples": 8, "raw_samples": 8, "maxiter": 5,
             "num_restarts": 1, "max_new": 2},
}


# ---------------------------------------------------------------- fronts and helpers
def arc(angles: torch.Tensor) -> torch.Tensor:
    """Points of the unit quarter circle (a concave front) at the given angles."""
    return torch.stack([torch.cos(angles), torch.sin(angles)], -1)


def rad(*deg: float) -> torch.Tensor:
    return torch.deg2rad(torch.tensor(deg, dtype=torch.float64))


def simplex(X: torch.Tensor) -> torch.Tensor:
    return X / X.sum(-1, keepdim=True)


def angles_deg(R: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.atan2(R[:, 1], R[:, 0]))


def assert_simplex(R: torch.Tensor, shape: tuple[int, int]) -> None:
    assert R.shape == shape
    assert bool(torch.isfinite(R).all())
    assert float(R.min()) >= 0.0
    torch.testing.assert_close(R.sum(-1), torch.ones(shape[0], dtype=R.dtype))


def largest_angular_gap(R: torch.Tensor, front: torch.Tensor) -> float:
    """Largest gap (degrees) between the front points associated with ``R`` (largest
    cosine), the ends 0 and 90 degrees included."""
    U = R / R.norm(dim=-1, keepdim=True)
    D = front / front.norm(dim=-1, keepdim=True)
    a = angles_deg(front[(U @ D.T).argmax(-1)]).sort().values
    a = torch.cat([a.new_tensor([0.0]), a, a.new_tensor([90.0])])
    return float(torch.diff(a).max())


class CurveFront:
    """A 2-objective front ``(t, g(t))``, ``t`` in [0, 1], and an exact "engine": the
    point a preference reaches is where its ray meets the front (true for mTche/EPO)."""

    def __init__(self, g, n: int = 20001) -> None:
        t = np.linspace(0.0, 1.0, n)
        self.F = np.stack([t, g(t)], -1)
        self.angle = np.arctan2(self.F[:, 1], self.F[:, 0])  # decreasing in t
        self.scale = self.F.max(0)

    def reach(self, R: torch.Tensor) -> torch.Tensor:
        theta = np.arctan2(R[:, 1].numpy(), R[:, 0].numpy())
        idx = np.clip(np.searchsorted(-self.angle, -theta), 0, len(self.angle) - 1)
        return torch.as_tensor(self.F[idx])

    def covering_radius(self, Y: torch.Tensor) -> float:
        """Largest distance from the front to the nearest of ``Y`` (normalized space)."""
        s = torch.as_tensor(self.scale)
        return float(torch.cdist(torch.as_tensor(self.F) / s, Y / s).min(-1).values.max())


def quarter_circle_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(current, front, front_prefs): 12 vectors (both axes + 10 packed in [5, 40] deg)
    and a front sampled densely on the whole quarter circle."""
    front = arc(torch.linspace(0, math.pi / 2, 121, dtype=torch.float64))
    current = simplex(arc(torch.cat([rad(0.0, 90.0), rad(*np.linspace(5, 40, 10))])))
    return current, front, simplex(front)


# ---------------------------------------------------------------- registry
def test_names_and_unknown_name():
    assert set(BUILTIN) <= set(A.names())
    with pytest.raises(UnknownNameError) as err:
        A.get("adaptve")
    msg = str(err.value)
    assert "'adaptve'" in msg
    for name in BUILTIN:
        assert name in msg


def test_get_passes_instances_and_checks_options():
    ad = A.get("adaptive", step=0.25)
    assert A.get(ad) is ad
    assert "step=0.25" in repr(ad)
    with pytest.raises(ConfigError, match="stepp"):
        A.get("adaptive", stepp=0.3)
    with pytest.raises(ConfigError, match=r"step=1.5 .*\(0, 1\]"):
        A.get("adaptive", step=1.5)
    with pytest.raises(ConfigError, match="kernel"):
        A.get("adaptive", kernel="cauchy")
    with pytest.raises(ConfigError, match="Allowed options"):
        A.get("uniform", stepz=3)


# ---------------------------------------------------------------- common contract
def test_fixed_is_identity():
    current, front, fprefs = quarter_circle_case()
    out = A.get("fixed").propose(current, front, fprefs, round=3)
    assert torch.equal(out, current)


@pytest.mark.parametrize("name", BUILTIN)
def test_reads_front_says_whether_the_front_moves_the_proposal(name):
    """A coordinator skips an adapter whose ``reads_front`` is False and keeps the current
    vectors: that must be what the adapter would have proposed for any front, and an
    adapter that says True must answer two different fronts differently."""
    current, front, fprefs = quarter_circle_case()
    # the same vectors, against the whole quarter circle and against its first third
    whole = A.get(name, **FAST[name]).propose(current, front, fprefs, round=1)
    third = A.get(name, **FAST[name]).propose(current, front[:40], fprefs[:40], round=1)
    if A.get(name).reads_front:
        assert not torch.allclose(whole, third)
    else:
        assert torch.equal(whole, current) and torch.equal(third, current)


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("m", [2, 3])
def test_contract_shape_simplex_finite_deterministic(name, m):
    if m == 2:
        current, front, fprefs = quarter_circle_case()
    else:  # DTLZ2's front (sphere octant), sampled where the first coordinate is large
        W = initial_prefs(3, 28)
        fprefs = W[W[:, 0] >= 0.3]
        front = fprefs / fprefs.norm(dim=-1, keepdim=True)
        current = initial_prefs(3, 10)
    adapter = A.get(name, **FAST[name])
    a = adapter.propose(current, front, fprefs, round=1)
    b = A.get(name, **FAST[name]).propose(current, front, fprefs, round=1)
    assert_simplex(a, tuple(current.shape))
    assert torch.equal(a, b)  # deterministic given seed and round


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("k", [0, 1])
def test_empty_or_single_point_front_returns_current(name, k):
    current, front, fprefs = quarter_circle_case()
    out = A.get(name, **FAST[name]).propose(current, front[:k], fprefs[:k])
    torch.testing.assert_close(out, current)


@pytest.mark.parametrize("name", ["adaptive", "uniform"])
def test_keeps_dtype_and_works_under_no_grad(name):
    current, front, fprefs = quarter_circle_case()
    with torch.no_grad():
        out = A.get(name, **FAST[name]).propose(current.float(), front.float(), fprefs.float())
    assert out.dtype == torch.float32
    assert_simplex(out.double(), tuple(current.shape))


def test_input_checks():
    current, front, fprefs = quarter_circle_case()
    ad = A.get("adaptive")
    with pytest.raises(ShapeError, match="front"):
        ad.propose(current, torch.ones(5, 3))
    with pytest.raises(ShapeError, match="one row per"):
        ad.propose(current, front, fprefs[:-1])
    with pytest.raises(PreferenceError, match="negative"):
        ad.propose(current - 0.6, front)
    # NaN rows of the front are ignored, not propagated.
    bad = front.clone()
    bad[::3] = math.nan
    assert_simplex(ad.propose(current, bad), tuple(current.shape))


# ---------------------------------------------------------------- adaptive
def test_adaptive_fills_the_empty_half_of_a_quarter_circle():
    """Both axes + 10 vectors packed in [5, 40] deg: their front points leave a 50 degree
    gap; the ideal for 12 vectors is 90 / 11 = 8.2 degrees. Measured (front sampled every
    0.75 deg): 50.25 -> 29.25 -> 18.75 -> 13.5 -> 10.5 -> 9.75 over five rounds of
    ``step=0.5``; the axes never move."""
    current, front, _ = quarter_circle_case()
    ad = A.get("adaptive")
    gaps = [largest_angular_gap(current, front)]
    R = current
    for r in range(5):
        R = ad.propose(R, front, round=r)
        gaps.append(largest_angular_gap(R, front))
        assert torch.equal(R[:2], current[:2])  # the axes stay
    assert gaps[0] == pytest.approx(50.25, abs=0.01)
    assert gaps[1] < 0.6 * gaps[0]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 10.5
    # One full step (step=1) lands on the equal-arc design: 8.25 degrees apart.
    full = A.get("adaptive", step=1.0).propose(current, front)
    spacing = torch.diff(angles_deg(full).sort().values)
    torch.testing.assert_close(spacing, torch.full_like(spacing, 90 / 11), atol=0.1, rtol=0)


@pytest.mark.parametrize(
    ("shape", "g", "fixed_cr", "max_cr"),
    [
        # a knee front: equal-angle rays all meet it near the knee
        ("knee", lambda t: (1 - np.sqrt(t)) ** 2, 0.230, 0.15),
        # f2 ten times f1's scale: RVEA's scale adaptation matters
        ("scaled", lambda t: 10 * (1 - t**2), 0.419, 0.11),
    ],
)
def test_adaptive_covers_gaps_better_than_fixed(shape, g, fixed_cr, max_cr):
    """Closed loop with an exact engine: 10 Das-Dennis vectors, each round the archive
    gains the points the vectors reach. Covering radius of the front (normalized; the
    best possible for 10 points is about 0.06-0.08): fixed stays at 0.230 (knee) / 0.419
    (scaled); adaptive after 5 rounds: 0.148 / 0.105 (measured)."""
    front = CurveFront(g)
    R0 = initial_prefs(2, 10)
    fixed = front.covering_radius(front.reach(R0))
    assert fixed == pytest.approx(fixed_cr, abs=2e-3)
    ad = A.get("adaptive")
    R, archive = R0, front.reach(R0)
    radii = []
    for r in range(5):
        R = ad.propose(R, archive, round=r)
        Y = front.reach(R)
        archive = torch.cat([archive, Y])
        radii.append(front.covering_radius(Y))
    assert radii[-1] < max_cr < fixed
    assert radii[-1] < radii[0]


def test_adaptive_three_objectives_spreads_a_clustered_population():
    """DTLZ2's front (sphere octant); 3 axes + 30 vectors crowded near the first axis.
    Covering radius of the front by the vectors' points: 0.83 before, < 0.25 after one
    round (a 33-point Das-Dennis-like design reaches 0.20); the axes stay."""
    W = initial_prefs(3, 300)
    front = W / W.norm(dim=-1, keepdim=True)
    g = torch.Generator().manual_seed(0)
    crowd = torch.rand(30, 3, generator=g, dtype=torch.float64) ** 3
    crowd[:, 0] += 2.0
    current = torch.cat([torch.eye(3, dtype=torch.float64), simplex(crowd)])

    def cover(R):
        Y = R / R.norm(dim=-1, keepdim=True)  # the ray meets the unit sphere there
        return float(torch.cdist(front, Y).min(-1).values.max())

    out = A.get("adaptive", step=1.0).propose(current, front)
    assert_simplex(out, (33, 3))
    assert torch.equal(out[:3], current[:3])
    assert cover(current) > 0.8
    assert cover(out) < 0.25
    min_dist = float(torch.cdist(out, out).fill_diagonal_(9).min())
    assert min_dist > 0.05  # nobody collapsed onto anybody


def test_adaptive_is_equivariant_to_objective_scaling():
    """RVEA scale adaptation: rescaling an objective rescales the proposal the same way."""
    current, front, _ = quarter_circle_case()
    D = torch.tensor([1.0, 25.0], dtype=torch.float64)
    ad = A.get("adaptive")
    plain = ad.propose(current, front)
    scaled = ad.propose(simplex(current * D), front * D)
    torch.testing.assert_close(scaled, simplex(plain * D), atol=1e-6, rtol=0)


def test_adaptive_separates_duplicates_deterministically():
    _, front, _ = quarter_circle_case()
    current = torch.tensor([[1.0, 0.0], [0.0, 1.0]] + [[0.7, 0.3]] * 6, dtype=torch.float64)
    ad = A.get("adaptive", seed=3)
    out = ad.propose(current, front, round=2)
    assert_simplex(out, (8, 2))
    assert torch.equal(out, ad.propose(current, front, round=2))
    assert float(torch.cdist(out, out).fill_diagonal_(9).min()) > 0.02


# ---------------------------------------------------------------- ehvi / uniform
def test_ehvi_prefers_the_unexplored_side():
    """Front sampled only on angles [0, 45] deg (pref first coordinate >= 0.5): the
    new vectors lie beyond 45 deg (measured: 48, 83, 86, 90 deg); at most ``max_new``
    vectors change and the axis vector stays."""
    angles = torch.linspace(0, math.pi / 4, 100, dtype=torch.float64)
    front = arc(angles)
    fprefs = simplex(front)
    current = simplex(arc(torch.linspace(0, math.pi / 4, 10, dtype=torch.float64)))
    out = A.get("ehvi").propose(current, front, fprefs)
    assert_simplex(out, (10, 2))
    changed = ((out - current).abs().sum(-1) > 1e-12).nonzero().flatten()
    assert 1 <= len(changed) <= 4
    assert 0 not in changed.tolist()
    new_angles = angles_deg(out[changed])
    assert bool((new_angles > 45.0).all()), new_angles


def test_ehvi_and_uniform_fall_back_to_adaptive_without_pairs():
    current, front, fprefs = quarter_circle_case()
    adaptive = A.get("adaptive").propose(current, front)
    for name in ("ehvi", "uniform"):
        adapter = A.get(name, **FAST[name])
        torch.testing.assert_close(adapter.propose(current, front), adaptive)
        # too few pairs (2 < 2m = 4)
        few = adapter.propose(current, front[[0, 60]], fprefs[[0, 60]])
        torch.testing.assert_close(few, A.get("adaptive").propose(current, front[[0, 60]]))


# ---------------------------------------------------------------- initial_prefs
@pytest.mark.parametrize(("m", "p"), [(2, 1), (2, 7), (3, 2), (3, 91), (3, 100), (4, 30),
                                      (5, 4), (1, 3)])
def test_initial_prefs_gives_exactly_p_vectors(m, p):
    W = initial_prefs(m, p)
    assert_simplex(W, (p, m))
    if m > 1:
        assert torch.unique(W, dim=0).shape[0] == p  # no duplicates


def test_initial_prefs_details():
    W = initial_prefs(2, 5)
    torch.testing.assert_close(W[:, 0].sort().values,
                               torch.linspace(0, 1, 5, dtype=torch.float64))
    assert initial_prefs(2, 1).tolist() == [[0.5, 0.5]]
    # 91 = C(14, 2): exactly the Das-Dennis lattice H = 12
    W91 = initial_prefs(3, 91)
    assert torch.allclose((W91 * 12).round(), W91 * 12)
    # 100 = the 91 lattice points plus 9 energy points, each away from the lattice
    W100 = initial_prefs(3, 100)
    torch.testing.assert_close(W100[:91], W91)
    extra = torch.cdist(W100[91:], W91).min(-1).values
    assert float(extra.min()) > 1e-3
    # p < m: the centroid, then axes
    assert initial_prefs(3, 2).tolist()[1] == [1.0, 0.0, 0.0]
    E = initial_prefs(3, 12, method="energy", seed=1)
    assert_simplex(E, (12, 3))
    assert torch.equal(E, initial_prefs(3, 12, method="energy", seed=1))


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"m": 0, "p": 3}, "m=0 is not allowed; allowed values: integers >= 1"),
    ({"m": 2, "p": 0}, "p=0 is not allowed; allowed values: integers >= 1"),
    ({"m": 2, "p": 2.5}, "p=2.5 has type float; expected an integer"),
    ({"m": 3, "p": 5, "method": "sobol"}, "method='sobol' is not allowed; allowed values: "
                                          "das-dennis, energy"),
])
def test_initial_prefs_rejects_bad_arguments(kw, fragment):
    m, p = kw.pop("m"), kw.pop("p")
    with pytest.raises(ConfigError, match=re.escape(f"initial_prefs: {fragment}")):
        initial_prefs(m, p, **kw)
