"""``ehvi``: Bayesian optimization over the preference simplex with qLogNEHVI.

References:

.. [Chen2022] W. Chen, J. T. Kwok. Multi-objective deep learning with adaptive reference
    vectors. NeurIPS 2022 (GMOOAR-U: repulsive Gaussian energy of the solutions).
.. [Daulton2021] S. Daulton, M. Balandat, E. Bakshy. Parallel Bayesian optimization of
    multiple noisy objectives with expected hypervolume improvement. NeurIPS 2021.
.. [Ament2023] S. Ament, S. Daulton, D. Eriksson, M. Balandat, E. Bakshy. Unexpected
    improvements to expected improvement for Bayesian optimization. NeurIPS 2023 (LogEI).
"""

from __future__ import annotations

import math
import warnings
from typing import Annotated, Any

import torch
from pydantic import Field
from torch import Tensor

from paretoray._validation import ExactInt, checked_options
from paretoray.preferences.adapters.adaptive import Adaptive
from paretoray.preferences.adapters.base import (
    Adapter,
    Count,
    Seed,
    label,
    register,
    too_few_pairs,
)
from paretoray.preferences.geometry import (
    is_vertex,
    nearest_by_angle,
    normalized_frame,
    to_simplex,
)

__all__ = ["EHVI"]


@register("ehvi")
class EHVI(Adapter):
    """Bayesian optimization over the preference simplex with qLogNEHVI.

    A BoTorch ``SingleTaskGP`` models the map from a preference (its first ``m - 1``
    coordinates; the last is ``1 - sum``) to the objectives it reached, fitted on the
    archive's ``(front_prefs, -front)`` pairs (BoTorch maximizes, so objectives are
    negated at this boundary). ``qLogNoisyExpectedHypervolumeImprovement``
    [Daulton2021]_ [Ament2023]_ with the reference point ``nadir + 0.1 (nadir - ideal)``
    (negated) picks ``max_new`` new preferences by ``optimize_acqf`` over
    ``[0, 1]^{m-1}`` with ``sum <= 1``. They replace the vectors whose associated front
    points (largest cosine, normalized space) are the most crowded (GMOOAR-U crowding
    ``sum_j exp(-d_ij^2 / h^2)``, ``h`` the median nearest-neighbour distance of the
    front); vertices (axes) are never replaced; the rest are kept.

    With no ``front_prefs``, fewer than ``min_points`` (default ``2 m``) pairs, or a
    failed model fit, the :class:`Adaptive` rule is used instead (with a warning for a
    failed fit). Cost on a CPU: about a second for ``k = 100``, ``m = 2`` with the
    defaults.

    Args:
        max_new: Vectors replaced per round (default ``min(p, 4)``).
        max_points: Archive pairs the GP is fitted on; a larger front is thinned by
            farthest-point sampling (extremes first) in the normalized objective space.
        num_restarts: Restarts of the acquisition optimizer.
        raw_samples: Raw samples that seed the restarts.
        mc_samples: Quasi-MC samples of the acquisition function.
        maxiter: Iterations of each restart's L-BFGS-B/SLSQP run.
        min_points: Fewest archive pairs to fit the model on (default ``2 m``).
        fallback: Options of the :class:`Adaptive` fallback.
        threads: torch threads during the BoTorch calls (restored afterwards); these
            small problems run several times faster on one thread than on a busy
            machine's many. None leaves torch's setting alone.
        seed: Seed of the samplers (``seed + round``).
    """

    @checked_options(label)
    def __init__(self, max_new: Annotated[ExactInt, Field(ge=0)] | None = None,
                 max_points: Annotated[ExactInt, Field(ge=2)] = 64, num_restarts: Count = 2,
                 raw_samples: Count = 32, mc_samples: Count = 32, maxiter: Count = 30,
                 min_points: Count | None = None, fallback: dict[str, Any] | None = None,
                 threads: Count | None = 1, seed: Seed = 0) -> None:
        self.max_new = max_new
        self.max_points = max_points
        self.threads = threads
        self.num_restarts = num_restarts
        self.raw_samples = raw_samples
        self.mc_samples = mc_samples
        self.maxiter = maxiter
        self.min_points = min_points
        self.seed = seed
        self._fallback = Adaptive(**{"seed": self.seed, **(fallback or {})})

    def _propose(self, current: Tensor, front: Tensor, front_prefs: Tensor | None,
                 round: int) -> Tensor:
        p = current.shape[0]
        if too_few_pairs(front, front_prefs, self.min_points):
            return self._fallback._propose(current, front, front_prefs, round)
        n_new = min(p, 4) if self.max_new is None else min(self.max_new, p)
        slots = self._slots(current, front, n_new)
        if slots.numel() == 0:
            return current.clone()
        try:
            cand = self._candidates(front, front_prefs, slots.numel(), self.seed + round)
        except Exception as e:  # a GP fit or acquisition failure must not stop a run
            warnings.warn(
                f"{self!r}: the qLogNEHVI proposal failed ({type(e).__name__}: {e}); "
                "using the 'adaptive' rule this round.",
                RuntimeWarning,
                stacklevel=3,
            )
            return self._fallback._propose(current, front, front_prefs, round)
        out = current.clone()
        out[slots] = _match(current[slots], cand)
        return out

    def _slots(self, current: Tensor, front: Tensor, n_new: int) -> Tensor:
        """Indices of the ``n_new`` most crowded non-vertex vectors (ties: lower index)."""
        origin, scale = normalized_frame(front)
        G = (front - origin) / scale
        phi = G[nearest_by_angle(G, current / scale)]
        dist = torch.cdist(G, G).fill_diagonal_(math.inf)
        h = float(dist.min(-1).values.median()) if G.shape[0] > 1 else 1.0
        crowd = _crowding(phi, h if math.isfinite(h) and h > 0 else 1.0)
        crowd = torch.where(is_vertex(current), torch.full_like(crowd, -math.inf), crowd)
        n = min(n_new, int((~is_vertex(current)).sum()))
        order = torch.sort(-crowd, stable=True).indices
        return order[:n].sort().values

    def _candidates(self, front: Tensor, front_prefs: Tensor, q: int, seed: int) -> Tensor:
        m = front.shape[1]
        keep = _thin(front, self.max_points)
        X = front_prefs[keep, : m - 1].contiguous()
        Y = -front[keep]  # BoTorch maximizes
        ideal, nadir = front.min(0).values, front.max(0).values
        ref = -(nadir + 0.1 * (nadir - ideal).clamp_min(1e-9))
        bounds = torch.stack([torch.zeros(m - 1), torch.ones(m - 1)]).to(X)
        constraints = None
        if m > 2:  # sum of the first m-1 coordinates <= 1, written as -sum >= -1
            constraints = [(torch.arange(m - 1), -torch.ones(m - 1, dtype=X.dtype), -1.0)]
        threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            return self._acquire(X, Y, ref, bounds, constraints, q, seed)
        finally:
            torch.set_num_threads(threads)

    def _acquire(self, X: Tensor, Y: Tensor, ref: Tensor, bounds: Tensor,
                 constraints: list | None, q: int, seed: int) -> Tensor:
        m = Y.shape[1]
        with torch.random.fork_rng(), warnings.catch_warnings():
            # BoTorch's and linear_operator's own warnings (jit deprecation at import,
            # optimizer restarts) are about their internals, not about the user's run.
            warnings.filterwarnings("ignore", module=r"(botorch|gpytorch|linear_operator)\b")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            from botorch.acquisition.multi_objective.logei import (
                qLogNoisyExpectedHypervolumeImprovement,
            )
            from botorch.fit import fit_gpytorch_mll
            from botorch.models import SingleTaskGP
            from botorch.models.transforms.outcome import Standardize
            from botorch.optim import optimize_acqf
            from botorch.sampling.normal import SobolQMCNormalSampler
            from gpytorch.mlls import ExactMarginalLogLikelihood

            torch.manual_seed(seed)
            model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=m))
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            acq = qLogNoisyExpectedHypervolumeImprovement(
                model=model,
                ref_point=ref,
                X_baseline=X,
                sampler=SobolQMCNormalSampler(torch.Size([self.mc_samples]), seed=seed),
                prune_baseline=True,
            )
            cand, _ = optimize_acqf(
                acq,
                bounds=bounds,
                q=q,
                num_restarts=self.num_restarts,
                raw_samples=self.raw_samples,
                inequality_constraints=constraints,
                # Greedy sequential picks: each new vector gets its own marginal gain
                # (a joint q-batch leaves the low-gain members stuck on the bounds).
                sequential=True,
                options={"maxiter": self.maxiter, "batch_limit": self.num_restarts},
            )
        cand = cand.detach().clamp(0.0, 1.0)
        last = (1.0 - cand.sum(-1, keepdim=True)).clamp_min(0.0)
        return to_simplex(torch.cat([cand, last], dim=-1))


def _crowding(points: Tensor, bandwidth: float) -> Tensor:
    """GMOOAR-U crowding of each point: ``sum_{j != i} exp(-||y_i - y_j||^2 / h^2)``."""
    d2 = torch.cdist(points, points).square()
    K = torch.exp(-d2 / max(bandwidth, 1e-12) ** 2)
    return K.sum(-1) - 1.0


def _thin(front: Tensor, n: int) -> Tensor:
    """Indices of at most ``n`` front rows by farthest-point sampling (extremes first)."""
    k = front.shape[0]
    if k <= n:
        return torch.arange(k)
    origin, scale = normalized_frame(front)
    G = (front - origin) / scale
    chosen = list(dict.fromkeys(int(i) for i in G.argmin(0)))[:n]
    dmin = torch.cdist(G, G[chosen]).min(-1).values
    while len(chosen) < n:
        j = int(dmin.argmax())
        chosen.append(j)
        dmin = torch.minimum(dmin, (G - G[j]).norm(dim=-1))
    return torch.tensor(sorted(chosen))


def _match(old: Tensor, new: Tensor) -> Tensor:
    """Reorder ``new`` so each row replaces the closest ``old`` row (greedy, deterministic)."""
    n = old.shape[0]
    d = torch.cdist(old, new)
    out = torch.empty_like(new)
    free_old = torch.ones(n, dtype=torch.bool)
    free_new = torch.ones(n, dtype=torch.bool)
    for _ in range(n):
        masked = d.masked_fill(~free_old.unsqueeze(1) | ~free_new.unsqueeze(0), math.inf)
        flat = int(masked.argmin())
        i, j = divmod(flat, n)
        out[i] = new[j]
        free_old[i] = False
        free_new[j] = False
    return out
