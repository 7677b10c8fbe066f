"""The progress bar: drawn on a real pseudo-terminal, silent on a pipe or a file."""

from __future__ import annotations

import io
import os

from paretoray.progress import Progress


def _read_all(fd: int) -> str:
    chunks = []
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_bar_on_a_terminal_shows_rounds_and_time_left() -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        assert tty.isatty()
        progress = Progress(stream=tty)
        progress.advance(0, 4, now=100.0)
        progress.advance(2, 4, now=110.0)  # 2 rounds in 10 s: 2 more take 10 s
        progress.row(round=2, steps=100, n_nds=7, hv=0.5, igd=None, steps_per_s=12.0)
        progress.advance(4, 4, now=121.0)
        tty.flush()
        out = _read_all(master)
    os.close(master)
    assert "[" + "." * 30 + "] 0/4 rounds   0%  --:-- left" in out
    assert "[" + "#" * 15 + "." * 15 + "] 2/4 rounds  50%  0:10 left" in out
    assert "done in 0:21" in out
    # the row is printed on a cleared line, then the bar is drawn again below it
    row_at = out.index("     2 |     100 |")
    assert out.rfind("\x1b[K", 0, row_at) > out.index("0:10 left")
    assert out.index("0:10 left", row_at) > row_at
    assert out.endswith("done in 0:21\r\n")  # the terminal turns "\n" into "\r\n"


def test_bar_is_silent_off_a_terminal_and_when_disabled() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream)
    progress.advance(1, 4, now=1.0)
    progress.row(round=1, steps=50, n_nds=3, hv=0.25, igd=0.1, steps_per_s=5.0)
    progress.advance(4, 4, now=2.0)
    lines = stream.getvalue().splitlines()
    assert lines[0] == Progress.HEADER and len(lines) == 3  # header, rule, one row
    assert "rounds" not in stream.getvalue() and "\x1b" not in stream.getvalue()

    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty:
        Progress(enabled=False, stream=tty).advance(1, 4, now=1.0)
        tty.flush()
        assert _read_all(master) == ""
    os.close(master)
