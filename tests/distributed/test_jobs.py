"""``paretoray submit`` / ``jobs`` through Ray's Jobs API, against a real head.

The head is started by ``clusters/local/start-head.sh`` (``ray start --head``, dashboard on
127.0.0.1, token authentication on, its own temp dir and free ports) and stopped by
``clusters/local/stop.sh``, which ends exactly its process groups. Tests without a head
check what is built and refused before any request.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import tomllib

import numpy as np
import pytest

import paretoray as pr
from paretoray.distributed import jobs
from paretoray.errors import ConfigError, ParetorayError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOCAL = os.path.join(ROOT, "clusters", "local")
PWNED = "x; touch PWNED.yaml"
CONFIG = """problem: zdt1
algorithm: epo
population: 8
steps: 40
steps_per_round: 20
workers: 2
seed: 0
progress: false
run_dir: {run_dir}
"""


def _cli(*args: str, env: dict | None = None, cwd: str | None = None, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "paretoray", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "cfg" / PWNED
    path.parent.mkdir()
    path.write_text(CONFIG.format(run_dir=tmp_path / "run"))
    return str(path)


# ---------------------------------------------------------------------- no cluster needed
def test_entrypoint_quotes_a_hostile_config_name_through_a_real_shell(tmp_path):
    entry = jobs.build_entrypoint(PWNED, run_dir="/runs/a b", python=sys.executable)
    assert shlex.split(entry)[3:] == ["run", PWNED, "--address", "auto", "--run-dir",
                                      "/runs/a b"]
    # what the job supervisor does with it: `sh -c ENTRYPOINT` in the job's directory
    done = subprocess.run(entry, shell=True, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert not (tmp_path / "PWNED.yaml").exists()
    assert done.returncode == 2
    assert PWNED in done.stderr  # one argument: paretoray looked for the whole name


def test_unreachable_address_is_one_line(config):
    done = _cli("submit", config, "--address", "http://127.0.0.1:1", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach a Ray dashboard at http://127.0.0.1:1" in lines[0]
    with pytest.raises(ParetorayError, match="cannot reach"):
        pr.submit(config, address="http://127.0.0.1:1")


def test_bad_input_is_refused_before_any_request(tmp_path, config):
    with pytest.raises(ConfigError, match="is not a dashboard URL"):
        pr.submit(config, address="127.0.0.1:6379")
    with pytest.raises(ConfigError, match="runtime_env='conda'"):
        pr.submit(config, address="http://127.0.0.1:1", runtime_env="conda")
    with pytest.raises(ConfigError, match="is not a file"):
        pr.submit(str(tmp_path / "missing.yaml"), address="http://127.0.0.1:1")
    relative = tmp_path / "relative.yaml"
    relative.write_text(CONFIG.format(run_dir="runs/zdt1"))
    with pytest.raises(ConfigError, match="run_dir='runs/zdt1' is relative"):
        pr.submit(str(relative), address="http://127.0.0.1:1")
    unset = tmp_path / "unset.yaml"
    unset.write_text(CONFIG.split("run_dir:")[0])
    with pytest.raises(ConfigError, match="run_dir=None is unset"):
        pr.submit(str(unset), address="http://127.0.0.1:1")
    with pytest.raises(ParetorayError, match="cannot reach"):  # an absolute --run-dir passes
        pr.submit(str(unset), address="http://127.0.0.1:1", run_dir=str(tmp_path / "r"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("problem: zdt1\npopulation: -3\n")
    with pytest.raises(ConfigError, match="population"):  # checked here, not on the cluster
        pr.submit(str(broken), address="http://127.0.0.1:1")


def _files(root: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root)
            for f in fs if "__pycache__" not in d}


def test_runtime_env_ships_only_the_config_and_paretoray(tmp_path, config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AWS_SECRET_ACCESS_KEY=do-not-ship\n")
    package = os.path.dirname(os.path.abspath(pr.__file__))

    d1 = tmp_path / "py_modules"
    d1.mkdir()
    env = jobs.build_runtime_env(config, "py_modules", str(d1))
    assert env["working_dir"] == str(d1) and _files(str(d1)) == {PWNED}
    assert env["py_modules"] == [package]

    d2 = tmp_path / "working_dir"
    d2.mkdir()
    env = jobs.build_runtime_env(config, "working_dir", str(d2))
    shipped = _files(str(d2))
    source = {os.path.join("paretoray", f) for f in _files(package)
              if not f.endswith((".pyc", ".so"))}
    assert shipped == {PWNED} | source
    assert "paretoray/__init__.py" in shipped and ".env" not in shipped

    d3 = tmp_path / "pip"
    d3.mkdir()
    env = jobs.build_runtime_env(config, "pip", str(d3))
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    torch_spec = next(d for d in deps if d.startswith("torch")).replace(" ", "")
    assert env["pip"][0] == f"paretoray=={importlib.metadata.version('paretoray')}"
    assert len(env["pip"]) == 2
    assert sorted(env["pip"][1].removeprefix("torch").split(",")) == sorted(
        torch_spec.removeprefix("torch").split(","))

    d4 = tmp_path / "given"
    d4.mkdir()
    env = jobs.build_runtime_env(config, {"env_vars": {"A": "1"}, "working_dir": "."}, str(d4))
    assert env == {"env_vars": {"A": "1"}, "working_dir": str(d4)}


def test_token_is_found_where_ray_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(var, raising=False)
    assert jobs.find_token()[0] is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert jobs.find_token()[0] == "from-home"
    named = tmp_path / "named"
    named.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(named))
    assert jobs.find_token()[0] == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert jobs.find_token() == ("from-env", "RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert jobs.find_token()[0] is None
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "absent"))
    with pytest.raises(ParetorayError, match=r"RAY_AUTH_TOKEN_PATH=.*cannot be read"):
        jobs.find_token()


# ---------------------------------------------------------------------- a real head
def _free_port(avoid: range = range(10002, 20000)) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:  # Ray's default worker port range
            return port


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A head started with clusters/local/start-head.sh; stopped with stop.sh."""
    cluster_dir = tmp_path_factory.mktemp("head")
    token = secrets.token_hex(16)
    dashboard = _free_port()
    env = {**os.environ, "PARETORAY_PYTHON": sys.executable,
           "PARETORAY_CLUSTER_DIR": str(cluster_dir), "RAY_AUTH_TOKEN": token,
           "RAY_PORT": str(_free_port()), "DASHBOARD_PORT": str(dashboard),
           "CLIENT_PORT": str(_free_port()), "AGENT_PORT": str(_free_port()),
           "NUM_CPUS": "2", "OMP_NUM_THREADS": "1"}
    started = subprocess.run([os.path.join(LOCAL, "start-head.sh")], env=env,
                             capture_output=True, text=True, timeout=180)
    recorded = cluster_dir / "pgids"
    pgids = [int(p) for p in recorded.read_text().split()] if recorded.exists() else []
    try:
        assert started.returncode == 0, started.stderr + started.stdout
        yield {"address": f"http://127.0.0.1:{dashboard}", "token": token, "dir": cluster_dir}
    finally:
        stopped = subprocess.run([os.path.join(LOCAL, "stop.sh")], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert not any(_group_alive(g) for g in pgids)


def _client_env(tmp_path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE", "RAY_ADDRESS")}
    return {**env, "HOME": str(tmp_path), "OMP_NUM_THREADS": "1", **extra}


@pytest.mark.multinode
def test_missing_and_wrong_tokens_are_named(head, tmp_path, config):
    done = _cli("jobs", "status", "raysubmit_x", "--address", head["address"],
                env=_client_env(tmp_path), timeout=60)
    assert done.returncode == 2
    assert "requires a token and none was sent" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = _cli("submit", config, "--address", head["address"],
                env=_client_env(tmp_path, RAY_AUTH_TOKEN="not-" + head["token"]), timeout=60)
    assert done.returncode == 2
    assert "refused the token from RAY_AUTH_TOKEN" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.multinode
def test_submit_runs_the_search_on_the_cluster(head, tmp_path, config):
    # RAY_ADDRESS (which Ray's client would prefer) names nothing: --address is what counts
    env = _client_env(tmp_path, RAY_AUTH_TOKEN=head["token"], RAY_ADDRESS="127.0.0.1:1")
    done = _cli("submit", config, "--address", head["address"], "--wait", env=env,
                cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job_id = done.stdout.strip().splitlines()[-1].removeprefix("submitted job ")
    # the search ran on the cluster and wrote the run directory the config names
    front = pr.open(str(tmp_path / "run"))
    assert len(front) > 0 and np.isfinite(front.objectives).all()
    assert front.objectives.shape[1] == 2
    # the config's name reached paretoray whole: nothing ran `touch`
    assert not list(tmp_path.rglob("PWNED.yaml"))
    assert not list(head["dir"].rglob("PWNED.yaml"))  # the job's directory on the head
    status = _cli("jobs", "status", job_id, "--address", head["address"], env=env, timeout=60)
    assert status.returncode == 0 and f"{job_id}: SUCCEEDED" in status.stdout
    logs = _cli("jobs", "logs", job_id, "--address", head["address"], env=env, timeout=60)
    assert f"Running entrypoint for job {job_id}: python -m paretoray run " \
           f"{shlex.quote(PWNED)} --address auto" in logs.stdout
    assert f"{len(front)} nondominated points" in logs.stdout


@pytest.mark.multinode
@pytest.mark.parametrize("mode", ["py_modules", "working_dir"])
def test_the_job_imports_the_paretoray_it_was_shipped(head, tmp_path, config, monkeypatch,
                                                      mode):
    # this machine's cluster Python has paretoray installed too: the job must not use it
    monkeypatch.setenv("RAY_AUTH_TOKEN", head["token"])
    client = jobs.connect(head["address"])
    directory = tmp_path / "job"
    directory.mkdir()
    env = jobs.build_runtime_env(config, mode, str(directory))
    job_id = client.submit_job(
        entrypoint="python -c 'import paretoray; print(\"FROM\", paretoray.__file__)'",
        runtime_env=env)
    status = jobs.follow(client, job_id, out=io.StringIO())
    logs = client.get_job_logs(job_id)
    assert status == "SUCCEEDED", logs
    path = re.search(r"^FROM (\S+)$", logs, re.M).group(1)
    assert path.startswith(str(head["dir"])) and "runtime_resources" in path, path
    assert not path.startswith(ROOT)


@pytest.mark.multinode
def test_a_config_the_cluster_cannot_satisfy_fails_with_the_reason(head, tmp_path):
    config = tmp_path / "gpu.yaml"
    config.write_text(CONFIG.format(run_dir=tmp_path / "gpu-run")
                      + "ray: {resources: {gpu: 1}}\n")
    env = _client_env(tmp_path, RAY_AUTH_TOKEN=head["token"])
    done = _cli("submit", str(config), "--address", head["address"], "--wait", env=env,
                timeout=180)
    assert done.returncode == 2
    assert "ended FAILED" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "cannot be met" in done.stdout  # the job's own one-line reason, in its logs
    assert not (tmp_path / "gpu-run").exists()  # refused before the run directory
