"""The `paretoray` command: run, show, verify, resume, list, and errors without tracebacks."""

from __future__ import annotations

import os

import pytest

from paretoray.cli import main

CONFIG = """\
problem: zdt1
problem_options: {{n_var: 5}}
algorithm: tchebycheff
population: 6
steps: 40
steps_per_round: 20
workers: 0
adapter: adaptive
progress: false
run_dir: {run_dir}
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "search.yaml"
    run_dir = tmp_path / "run"
    path.write_text(CONFIG.format(run_dir=run_dir))
    return str(path), str(run_dir)


def test_run_show_verify_resume(config, capsys):
    path, run_dir = config
    assert main(["run", path]) == 0
    out = capsys.readouterr().out
    assert "nondominated points" in out and "hypervolume" in out
    assert os.path.exists(os.path.join(run_dir, "front.png"))

    png = os.path.join(run_dir, "show.png")
    assert main(["show", run_dir, "--png", png]) == 0
    out = capsys.readouterr().out
    assert "objectives" in out and os.path.getsize(png) > 0

    assert main(["verify", run_dir]) == 0
    assert main(["resume", run_dir, "--steps", "20"]) == 0


def test_second_run_is_refused_with_a_clear_message(config, capsys):
    path, run_dir = config
    assert main(["run", path]) == 0
    capsys.readouterr()
    assert main(["run", path]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and f"paretoray resume {run_dir}" in err


def test_bad_config_names_field_value_and_allowed(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("problem: zdt1\nalgorithm: epoo\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "algorithm" in err and "'epoo'" in err and "epo" in err and "Traceback" not in err


def test_list_names_problems_algorithms_adapters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("zdt1", "dtlz2", "epo", "mgda", "hv", "adaptive", "ehvi"):
        assert name in out


def test_list_shows_every_algorithm_with_its_category_and_description(capsys):
    from paretoray import algorithms

    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
             if line.startswith("  ")}
    assert set(lines) == set(algorithms.names())
    for name in algorithms.names():
        cls = algorithms.REGISTRY.factory(name)
        assert cls.category in ("single solution", "finite set"), name
        assert cls.description and cls.paper, name
        assert cls.category in lines[name] and cls.description in lines[name]
    assert "single solution" in lines["mgda"] and "finite set" in lines["pmtl"]


# ---------------------------------------------------------------- inputs refused in one line
def _small_run(tmp_path):
    import numpy as np

    from paretoray.archive import Store

    run = tmp_path / "small"
    with Store.create(run, n_obj=2, n_var=2, meta={"problem": "zdt1"}) as store:
        F = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
        store.append(F, preference=[0.5, 0.5], x=np.zeros((3, 2)), round=0, shard=0,
                     member=np.arange(3), algorithm="epo", step=1)
    return run


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_show_writes_nothing_unless_asked(tmp_path, capsys, monkeypatch):
    run = _small_run(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert "3 nondominated points" in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("point_id"))
    assert header.split() == ["point_id", "round", "shard", "algorithm", "f1", "f2"]
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert list(cwd.iterdir()) == []
    assert main(["show", str(run), "--png", "f.png"]) == 0
    assert (cwd / "f.png").stat().st_size > 0


def test_show_refuses_bad_png_and_rows(tmp_path, capsys):
    run = _small_run(tmp_path)
    assert main(["show", str(run), "--png", "/nonexistent/x.png"]) == 2
    _one_line_error(capsys, "/nonexistent", "--png")
    assert main(["show", str(run), "--rows", "-1"]) == 2
    _one_line_error(capsys, "--rows", "-1")


def test_run_refuses_a_directory_or_a_binary_file(tmp_path, capsys):
    assert main(["run", str(tmp_path)]) == 2
    _one_line_error(capsys, str(tmp_path), "directory")
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    assert main(["run", str(binary)]) == 2
    _one_line_error(capsys, str(binary), "YAML")
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    _one_line_error(capsys, "missing.yaml")


@pytest.mark.parametrize("content", [b"", b'{"format": "paretoray.run", "n_ob', b"\x00\xff"])
def test_damaged_run_json_is_named(tmp_path, capsys, content):
    run = _small_run(tmp_path)
    (run / "run.json").write_bytes(content)
    for command in ("show", "verify"):
        assert main([command, str(run)]) == 2
        _one_line_error(capsys, str(run / "run.json"), "restore")
