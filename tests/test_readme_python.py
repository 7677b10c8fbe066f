"""The README's Python snippets run as written (offline, in a fresh directory)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"<!-- readme-test: (\S+) -->\s*```python\n(.*?)```", re.S)


def test_stopping_rules_callbacks_history_and_selection_snippet(tmp_path, monkeypatch,
                                                               capsys):
    snippets = dict(_BLOCK.findall(README.read_text()))
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    with pytest.warns(UserWarning, match="finite differences"):
        exec(compile(snippets["stopping"], "README.md:stopping", "exec"), ns)
    out = capsys.readouterr().out
    assert "stopped after" in out
    rounds = ns["rounds"]
    assert 4 <= len(rounds) < 250  # the stall rule ended it long before 5000 steps
    assert [r for r, _ in rounds] == list(range(1, len(rounds) + 1))
    best, front = ns["best"], ns["front"]
    assert tuple(best.objectives) in {tuple(f) for f in front.objectives}
