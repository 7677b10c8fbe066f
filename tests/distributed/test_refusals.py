"""What the Ray path refuses, and how: within seconds, in one line, before a run directory
exists -- and Ctrl-C, which ends a search as an error that says how to go on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import paretoray as pr
from paretoray.archive import Store, verify
from paretoray.errors import ConfigError, LockError, ParetorayError, ShapeError

from . import _faulty
from ._rows import round_keys, wait_for_rounds

SMALL = {"population": 4, "steps": 20, "steps_per_round": 10, "adapter": "fixed",
         "progress": False}


@pytest.mark.parametrize("resources", [{"cpu": 1, "gpu": 1}, {"cpu": 64, "gpu": 0}])
def test_resources_no_node_has_are_refused_before_the_run_exists(ray_session, tmp_path,
                                                                  resources):
    run_dir = tmp_path / "never"
    with pytest.raises(ConfigError, match=r"resources=.*cannot be met"):
        pr.search("zdt1", "linear", workers=1, run_dir=str(run_dir), resources=resources,
                  **SMALL)
    assert not run_dir.exists()


def test_a_deterministic_error_in_the_problem_is_raised_once_not_retried(ray_session,
                                                                          tmp_path):
    marker = tmp_path / "raised"
    problem = _faulty.RaiseAfter(str(marker), after=3)
    with pytest.raises(ParetorayError, match=r"shard \d failed: ValueError: boom"):
        pr.search(problem, "linear", workers=2, run_dir=str(tmp_path / "run"),
                  max_failures=2, **SMALL)
    pids = marker.read_text().split()
    assert len(pids) == len(set(pids)) <= 2  # each shard raised once: no restart re-ran it


def test_a_problem_of_the_wrong_shape_is_refused_at_the_boundary(tmp_path):
    with pytest.raises(ShapeError, match=r"returned \(2, 3\).*expected .* 2 x 2"):
        pr.search(_faulty.WrongShape(), "epo", workers=2, run_dir=str(tmp_path / "w"),
                  **SMALL)
    assert not (tmp_path / "w").exists()


def test_a_second_writer_through_ray_gets_one_clear_error(ray_session, tmp_path):
    run_dir = str(tmp_path / "held")
    pr.search("zdt1", "linear", workers=0, run_dir=run_dir, **SMALL)
    with Store.open(run_dir), pytest.raises(LockError) as err:  # this process writes it
        pr.resume(run_dir, steps=10, workers=1, progress=False)
    assert str(os.getpid()) in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def _config(tmp_path, **fields) -> str:
    import yaml

    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({"problem": "zdt1", "algorithm": "linear",
                                    "population": 4, "progress": False, **fields}))
    return str(path)


def test_an_unreachable_address_fails_in_seconds_with_one_line(tmp_path):
    run_dir = tmp_path / "nowhere"
    cfg = _config(tmp_path, steps=20, workers=1, run_dir=str(run_dir))
    proc = subprocess.run([sys.executable, "-m", "paretoray", "run", cfg, "--address",
                           "127.0.0.1:1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not run_dir.exists()


@pytest.mark.ray  # starts embedded Ray in the driver it interrupts
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_ray_search_exits_non_zero_and_says_how_to_resume(tmp_path, sig):
    run_dir = tmp_path / "stopped"
    cfg = _config(tmp_path, steps=10**6, steps_per_round=20, workers=2, adapter="fixed",
                  run_dir=str(run_dir), problem_options={"n_var": 10})
    env = {**os.environ, "RAY_ADDRESS": ""}
    proc = subprocess.Popen([sys.executable, "-m", "paretoray", "run", cfg],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_rounds(run_dir, 2, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert f"paretoray resume {run_dir}" in err
    assert "nondominated points" not in out  # no front printed as if it were a result
    report = verify(str(run_dir))
    assert report.ok, str(report)
    assert not (run_dir / "LOCK").exists()
    assert max(round_keys(run_dir).values()) == 1
    token = os.path.expanduser("~/.ray/auth_token")
    if os.path.exists(token):  # Ray writes it 0644; the search made it private
        assert os.stat(token).st_mode & 0o077 == 0, oct(os.stat(token).st_mode)


def test_embedded_ray_without_authentication_is_refused(tmp_path):
    cfg = _config(tmp_path, steps=20, workers=1, run_dir=str(tmp_path / "open"))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": ""}
    proc = subprocess.run([sys.executable, "-m", "paretoray", "run", cfg], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "RAY_AUTH_MODE=disabled" in proc.stderr and "allow_unauthenticated" in proc.stderr
    assert not (tmp_path / "open").exists()


def test_warnings_raised_in_the_coordinator_actor_reach_the_driver(ray_session, tmp_path):
    import json
    import shutil

    run_dir = tmp_path / "warned"
    pr.search("zdt1", "linear", workers=0, run_dir=str(run_dir), **SMALL)
    manifest = run_dir / "archive" / "manifest.json"
    entries = json.loads(manifest.read_text())
    # a manifest restored from an older backup: its last segment is no longer listed
    last = entries["segments"].pop()
    entries["next_point_id"] = last["first_point_id"]
    entries["front"] = None
    manifest.write_text(json.dumps(entries))
    shutil.rmtree(run_dir / "state")  # (its records name the dropped round)
    with pytest.warns(Warning, match=r"coordinator: .*Quarantined 1"):
        pr.resume(str(run_dir), steps=10, workers=1, progress=False)
    assert (run_dir / "archive" / "quarantine" / last["name"]).exists()
