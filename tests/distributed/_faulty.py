"""Problems that misbehave on purpose, for the fault tests (shipped to workers by value)."""

from __future__ import annotations

import os
import signal

import torch

from paretoray import problems
from paretoray.problems import Problem


class _ZDT1Like(Problem):
    def __init__(self) -> None:
        inner = problems.get("zdt1", n_var=10)
        self._inner = inner
        self.n_var, self.n_obj = inner.n_var, inner.n_obj
        self.xl, self.xu = inner.xl, inner.xu
        self.ref_point = inner.ref_point
        self.margin = inner.margin

    def project(self, x):
        return self._inner.project(x)

    def pareto_front(self, n_points: int = 100):
        return self._inner.pareto_front(n_points)


class KillOnce(_ZDT1Like):
    """ZDT1 whose ``after``-th evaluation in some worker SIGKILLs that worker, once per run."""

    name = "kill_once"

    def __init__(self, marker: str, after: int) -> None:
        super().__init__()
        self.marker, self.after, self.calls = marker, after, 0

    def _evaluate(self, x):
        self.calls += 1
        if self.calls == self.after:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                os.kill(os.getpid(), signal.SIGKILL)
        return self._inner._evaluate(x)


class NaNRegion(_ZDT1Like):
    """ZDT1 that returns NaN wherever x1 > 0.8 (a model that diverges in part of its domain)."""

    name = "nan_region"

    def _evaluate(self, x):
        F = self._inner._evaluate(x)
        return torch.where(x[:, :1] > 0.8, torch.full_like(F, float("nan")), F)


class RaiseAfter(_ZDT1Like):
    """ZDT1 that raises ValueError from its ``after``-th evaluation in a process on, and
    appends a line to ``marker`` each time it does (a deterministic bug in a user's problem)."""

    name = "raise_after"

    def __init__(self, marker: str, after: int) -> None:
        super().__init__()
        self.marker, self.after, self.calls = marker, after, 0

    def _evaluate(self, x):
        self.calls += 1
        if self.calls >= self.after:
            with open(self.marker, "a") as fh:
                fh.write(f"{os.getpid()}\n")
            raise ValueError("boom: the model diverged")
        return self._inner._evaluate(x)


class WrongShape(_ZDT1Like):
    """Returns `p x 3` objectives while declaring 2."""

    name = "wrong_shape"

    def _evaluate(self, x):
        F = self._inner._evaluate(x)
        return torch.cat([F, F[:, :1]], dim=1)
