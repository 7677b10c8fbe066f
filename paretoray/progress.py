"""A per-round progress table in pymoo's style: ``round | steps | n_nds | hv | igd | steps/s``,
and, on a terminal, a progress bar with the time remaining below it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Characters of the bar's filled part.
_BAR_WIDTH = 30


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Prints one row per round; silent when ``enabled`` is False.

    Args:
        enabled: Print at all.
        stream: Where rows go (stdout by default).
    """

    HEADER = (f"{'round':>6} | {'steps':>7} | {'n_nds':>6} | {'hv':>10} | {'igd':>9} | "
              f"{'steps/s':>9}")

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self._stream = stream  # None: sys.stdout at print time (keeps Progress picklable)
        self._header_done = False
        self.rows: list[dict[str, float]] = []
        self._bar: str | None = None  # the bar as last drawn, while it is on screen
        self._bar_start: tuple[float, int] | None = None  # (time, done) of the first advance

    def _tty(self) -> bool:
        stream = self._stream or sys.stdout
        isatty = getattr(stream, "isatty", None)
        return bool(self.enabled and isatty is not None and isatty())

    def advance(self, done: int, total: int, *, now: float | None = None) -> None:
        """Draw ``[#####.....] done/total rounds  pct  M:SS left`` on the last terminal line.

        Only when enabled and the stream is a terminal (``isatty()``): in CI, logs and pipes
        it does nothing. The time left is ``(total - done)`` times the mean time per round
        since the first call of this Progress, so rounds done by an earlier session (a
        resume starts at ``done > 0``) do not count. Rows printed by :meth:`row` appear
        above the bar, which is redrawn below them; the line ends when ``done >= total``.

        Args:
            done: Rounds finished so far (all shards together, or per shard: any unit).
            total: Rounds in the whole run, in the same unit.
            now: The current ``time.monotonic()`` (default: read it).
        """
        if not self._tty() or total <= 0:
            return
        t = time.monotonic() if now is None else now
        if self._bar_start is None:
            self._bar_start = (t, done)
        t0, done0 = self._bar_start
        frac = min(max(done / total, 0.0), 1.0)
        filled = round(frac * _BAR_WIDTH)
        if done >= total:
            left = f"done in {_clock(t - t0)}"
        elif done > done0:
            left = f"{_clock((total - done) * (t - t0) / (done - done0))} left"
        else:
            left = "--:-- left"
        self._bar = (f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total} rounds "
                     f"{100 * frac:3.0f}%  {left}")
        stream = self._stream or sys.stdout
        stream.write(f"\r\x1b[K{self._bar}")
        if done >= total:
            stream.write("\n")
            self._bar = None
        stream.flush()

    def row(self, *, round: int, steps: int, n_nds: int, hv: float, igd: float | None,
            steps_per_s: float) -> None:
        """Record (and print) one round."""
        stream = self._stream or sys.stdout
        self.rows.append({"round": round, "steps": steps, "n_nds": n_nds, "hv": hv,
                          "igd": float("nan") if igd is None else igd,
                          "steps_per_s": steps_per_s})
        if not self.enabled:
            return
        if self._bar is not None:  # the row goes above the bar
            stream.write("\r\x1b[K")
        if not self._header_done:
            print(self.HEADER, file=stream)
            print("=" * len(self.HEADER), file=stream)
            self._header_done = True
        igd_s = "-" if igd is None else f"{igd:9.5f}"
        print(f"{round:>6} | {steps:>7} | {n_nds:>6} | {hv:>10.6f} | {igd_s:>9} | "
              f"{steps_per_s:>9.1f}", file=stream, flush=True)
        if self._bar is not None:
            stream.write(self._bar)
            stream.flush()
