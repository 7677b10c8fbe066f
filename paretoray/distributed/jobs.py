"""Submitting ``paretoray run CONFIG`` to a Ray cluster through the Ray Jobs API.

Status: beta.

A job's entrypoint runs with the *cluster's* Python, so what makes paretoray importable
there travels in the job's ``runtime_env``; the config travels in a small temporary
``working_dir`` that holds only what the run needs (never the caller's whole directory,
where a ``.env`` may live). Three ways to ship paretoray (``runtime_env=``):

- ``"py_modules"`` (default): the source of the paretoray package this process imports,
  as a ``py_modules`` entry; the cluster provides torch, Ray and the other dependencies.
- ``"working_dir"``: the same package source copied next to the config in the
  working directory (``python -m paretoray`` then imports it from the job's directory).
- ``"pip"``: ``pip: ["paretoray==<this version>", "<paretoray's torch requirement>"]``,
  pinned to what runs here, installed by Ray on the cluster.

Token authentication (on by default in Ray 2.60) is handled the way Ray's own
``ray job submit`` finds a token -- ``RAY_AUTH_TOKEN``, then the file named by
``RAY_AUTH_TOKEN_PATH``, then ``~/.ray/auth_token`` -- except that the token is sent
whenever one is found (``RAY_AUTH_MODE=disabled`` sends none), so the client side needs
no ``RAY_AUTH_MODE=token``. A refused or missing token, an unreachable address and an
address that is not a Ray dashboard end in one line naming the fix, within seconds.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from paretoray.errors import ConfigError, ParetorayError

#: Job states after which nothing changes.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
#: The values of ``runtime_env=`` that name a way to ship paretoray.
MODES = ("py_modules", "working_dir", "pip")
#: Seconds the first request to the dashboard may take before the address is called unreachable.
CONNECT_TIMEOUT_S = 5.0
_EXCLUDES = ["__pycache__", "*.pyc", "*.so", "*.egg-info"]
_ADDRESS_VARS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
_CHATTY = ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging",
           "ray.dashboard.modules.job.sdk")


def submit(
    config: str,
    *,
    address: str,
    wait: bool = False,
    runtime_env: str | dict[str, Any] = "py_modules",
    run_dir: str | None = None,
    python: str = "python",
) -> str:
    """Submit ``paretoray run CONFIG`` as a Ray job; returns the job's submission id.

    Args:
        config: A :class:`~paretoray.SearchConfig` YAML file on this machine. It is
            checked here first, then shipped alone (under its own name) in the job's
            working directory.
        address: The dashboard of the cluster's head, ``http://HEAD:8265``.
        wait: Stream the job's logs here until it ends; raise if it did not succeed.
        runtime_env: How paretoray gets onto the cluster: ``"py_modules"``,
            ``"working_dir"`` or ``"pip"`` (see the module docstring), or a Ray
            ``runtime_env`` dict used as given (its ``working_dir``, if any, is replaced
            by the one holding the config).
        run_dir: Where the job writes the run: an absolute path on the head node (the
            job's driver runs there) or a shared-storage URI; default: the config's
            ``run_dir``. A relative or missing one is refused (it would land in the job's
            temporary working directory, which Ray deletes).
        python: The cluster's Python command for the entrypoint.

    Returns:
        The job's submission id (for ``paretoray jobs status|logs|stop ID``).

    Raises:
        ConfigError: The config or ``runtime_env`` is wrong (checked before any request).
        ParetorayError: The address is unreachable or not a Ray dashboard, the token is
            missing or refused, or (``wait=True``) the job did not succeed.
    """
    from paretoray.config import SearchConfig

    if not os.path.isfile(config):
        raise ConfigError(f"config={config!r} is not a file: give a SearchConfig YAML file.")
    cfg = SearchConfig.from_yaml(config)  # a broken config fails here, not on the cluster
    where = run_dir if run_dir is not None else cfg.run_dir
    if where is None or not (os.path.isabs(str(where)) or "://" in str(where)):
        raise ConfigError(
            f"run_dir={None if where is None else str(where)!r} is "
            f"{'unset' if where is None else 'relative'}: on the cluster it would land in the "
            "job's temporary working directory on the head, which Ray deletes. Give an "
            "absolute path on the head (`--run-dir /path`, or `run_dir:` in the config), or "
            "a shared-storage URI."
        )
    if isinstance(runtime_env, str) and runtime_env not in MODES:
        raise ConfigError(f"runtime_env={runtime_env!r} is not one of {list(MODES)} "
                          "(or a Ray runtime_env dict).")
    client = connect(address)
    with tempfile.TemporaryDirectory(prefix="paretoray-job-") as tmp:
        env = build_runtime_env(config, runtime_env, tmp)
        entrypoint = build_entrypoint(os.path.basename(config), run_dir=run_dir,
                                      python=python)
        job_id = _call(address, lambda: client.submit_job(entrypoint=entrypoint,
                                                          runtime_env=env))
    if wait:
        try:
            status = follow(client, job_id)
        except KeyboardInterrupt:
            raise ParetorayError(
                f"stopped following job {job_id}; it keeps running on the cluster: "
                f"`paretoray jobs logs|stop {job_id} --address {address}`.") from None
        if status != "SUCCEEDED":
            raise ParetorayError(
                f"job {job_id} ended {status} (its logs are above; again with "
                f"`paretoray jobs logs {job_id} --address {address}`)."
            )
    return job_id


def build_entrypoint(config_name: str, *, run_dir: str | None = None,
                     python: str = "python") -> str:
    """The job's shell command, every argument quoted with :func:`shlex.quote`.

    ``--address auto`` makes the search join the cluster the job runs on.
    """
    argv = [python, "-m", "paretoray", "run", config_name, "--address", "auto"]
    if run_dir is not None:
        argv += ["--run-dir", run_dir]
    return " ".join(shlex.quote(a) for a in argv)


def build_runtime_env(config: str, mode: str | dict[str, Any], directory: str) -> dict[str, Any]:
    """Fill ``directory`` with what the job needs and return its ``runtime_env``.

    Args:
        config: The config file; copied into ``directory`` under its own name.
        mode: ``"py_modules"``, ``"working_dir"``, ``"pip"`` or a ``runtime_env`` dict.
        directory: An empty directory that becomes the job's ``working_dir``.

    Returns:
        The ``runtime_env`` dict for :meth:`JobSubmissionClient.submit_job`.
    """
    shutil.copyfile(config, os.path.join(directory, os.path.basename(config)))
    if isinstance(mode, dict):
        return {**mode, "working_dir": directory}
    package = Path(__file__).resolve().parent.parent  # the paretoray package imported here
    if mode == "py_modules":
        return {"working_dir": directory, "py_modules": [str(package)], "excludes": _EXCLUDES}
    if mode == "working_dir":
        shutil.copytree(package, os.path.join(directory, "paretoray"),
                        ignore=shutil.ignore_patterns(*_EXCLUDES))
        return {"working_dir": directory, "excludes": _EXCLUDES}
    if mode == "pip":
        return {"working_dir": directory, "pip": pinned_requirements()}
    raise ConfigError(f"runtime_env={mode!r} is not one of {list(MODES)} "
                      "(or a Ray runtime_env dict).")


def pinned_requirements() -> list[str]:
    """``paretoray==<installed version>`` and paretoray's own torch requirement."""
    import re

    from paretoray import __version__

    requires = importlib.metadata.requires("paretoray") or []
    # the runtime requirement named exactly "torch" (not torchjd, not an extra's marker)
    torch = [r.split(";")[0].strip() for r in requires
             if re.match(r"torch\s*[<>=!~ ]", r) and "extra ==" not in r]
    return [f"paretoray=={__version__}", *torch]


# ---------------------------------------------------------------------- the client
def find_token() -> tuple[str | None, str]:
    """The token Ray's own clients would use, and where it came from.

    The order of Ray's ``AuthenticationTokenLoader``: ``RAY_AUTH_TOKEN``, the file named
    by ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``. ``RAY_AUTH_MODE=disabled``: none.
    """
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return None, "RAY_AUTH_MODE=disabled"
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            token = Path(path).expanduser().read_text().strip()
        except OSError as err:
            raise ParetorayError(f"RAY_AUTH_TOKEN_PATH={path!r} cannot be read "
                                 f"({err.strerror}): point it at the cluster's token file.") \
                from None
        return (token or None), f"RAY_AUTH_TOKEN_PATH={path}"
    default = Path.home() / ".ray" / "auth_token"
    if default.is_file():
        return (default.read_text().strip() or None), str(default)
    return None, "RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH and ~/.ray/auth_token are all unset"


_FIX = ("copy the head's token (`ray get-auth-token` on the head, or its ~/.ray/auth_token) "
        "into RAY_AUTH_TOKEN or a file named by RAY_AUTH_TOKEN_PATH")


def connect(address: str):
    """A :class:`JobSubmissionClient` for ``address``, checked with one quick request.

    Raises:
        ParetorayError: Unreachable, not a Ray dashboard, or the token missing/refused.
    """
    import requests

    if not address.startswith(("http://", "https://")):
        raise ConfigError(f"address={address!r} is not a dashboard URL: give "
                          "http://HEAD:8265 (the head's dashboard, not its GCS port).")
    address = address.rstrip("/")
    token, source = find_token()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = requests.get(f"{address}/api/version", headers=headers, timeout=CONNECT_TIMEOUT_S)
    except requests.exceptions.RequestException as err:
        reason = (f"no answer within {CONNECT_TIMEOUT_S:.0f} s"
                  if isinstance(err, requests.exceptions.Timeout) else "connection failed")
        raise ParetorayError(
            f"cannot reach a Ray dashboard at {address} ({reason}): check the address "
            "and that the head runs "
            "`ray start --head --dashboard-host <IP>` with that port reachable."
        ) from None
    if r.status_code == 401:
        raise ParetorayError(
            f"the cluster at {address} requires a token and none was sent ({source}): "
            f"{_FIX}."
        )
    if r.status_code == 403:
        raise ParetorayError(f"the cluster at {address} refused the token from {source}: "
                             f"{_FIX}.")
    try:
        r.raise_for_status()
        r.json()["ray_version"]
    except (requests.exceptions.HTTPError, ValueError, KeyError):
        raise ParetorayError(f"{address}/api/version answered HTTP {r.status_code}, not a Ray "
                             "dashboard: give the head's dashboard address (port 8265 by "
                             "default).") from None
    from ray.job_submission import JobSubmissionClient

    for name in _CHATTY:  # "Uploading package ...", "WebSocket closed ...": not the user's news
        logging.getLogger(name).setLevel(logging.WARNING)
    # Ray lets RAY_API_SERVER_ADDRESS / RAY_ADDRESS override the address it is given; the
    # address the user gave here is the one checked above, so it is the one used.
    hidden = {k: os.environ.pop(k) for k in _ADDRESS_VARS if k in os.environ}
    try:
        return _call(address, lambda: JobSubmissionClient(address, headers=headers))
    finally:
        os.environ.update(hidden)


def _call(address: str, fn):
    """Run one Jobs API call; Ray's multi-line errors become one line."""
    try:
        return fn()
    except (RuntimeError, ConnectionError) as err:  # ray.exceptions.AuthenticationError too
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ParetorayError(f"the Jobs API at {address} answered: {first}") from None


def follow(client: Any, job_id: str, *, out=None, poll_s: float = 1.0) -> str:
    """Stream a job's logs to ``out`` (stdout) until it ends; return its final status."""
    out = out or sys.stdout

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            out.write(chunk)
            out.flush()

    asyncio.run(tail())
    while (status := job_status(client, job_id)) not in TERMINAL:
        time.sleep(poll_s)
    return status


def job_status(client: Any, job_id: str) -> str:
    """The job's status as a plain string (``PENDING``, ``RUNNING``, ``SUCCEEDED``...)."""
    status = client.get_job_status(job_id)
    return str(getattr(status, "value", status))


def jobs_command(action: str, job_id: str, *, address: str, out=None) -> int:
    """``paretoray jobs status|logs|stop ID``: print the answer, return an exit code."""
    out = out or sys.stdout
    client = connect(address)
    if action == "status":
        info = _call(address, lambda: client.get_job_info(job_id))
        status = str(getattr(info.status, "value", info.status))
        out.write(f"{job_id}: {status}" + (f" ({info.message})" if info.message else "") + "\n")
        return 0
    if action == "logs":
        out.write(_call(address, lambda: client.get_job_logs(job_id)))
        return 0
    if action == "stop":
        stopped = _call(address, lambda: client.stop_job(job_id))
        out.write(f"{job_id}: {'stop requested' if stopped else 'already ended'}\n")
        return 0
    raise ConfigError(f"action={action!r} is not one of ['status', 'logs', 'stop'].")
