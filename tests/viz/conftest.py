"""A real headless Chromium (Debian's, driven by its chromedriver) and a real dashboard server.

``make test`` installs ``chromium`` and ``chromium-driver`` when ``/usr/bin/chromium`` is
missing. Screenshots go to ``tests/artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
WRITER = Path(__file__).with_name("_writer.py")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def chrome(*, offline: bool = False):
    """A headless Chromium that logs console messages and network requests."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(f"{CHROMIUM} / {CHROMEDRIVER} missing: run `make test`, which installs "
                    "Debian's chromium and chromium-driver (apt-get).")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp(prefix='paretoray-chromium-')}",
             "--window-size=1400,1000"]
    if offline:  # every request that is not file:// would go to a closed port
        flags += ["--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]
    for flag in flags:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def console_errors(driver) -> list[dict]:
    """The page's console messages of level SEVERE since the last call."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for since the last call (from the performance log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def start_writer(run_dir: Path, rounds: int, pause_s: float,
                 go_file: Path | None = None) -> subprocess.Popen:
    """Start the writer subprocess and wait until it has created the run directory; with
    ``go_file`` it commits round 0 and waits for that file before the next rounds."""
    ready = run_dir.with_name(run_dir.name + ".ready")
    extra = ["--go-file", str(go_file)] if go_file is not None else []
    proc = subprocess.Popen([sys.executable, str(WRITER), str(run_dir), str(rounds),
                             str(pause_s), "--ready-file", str(ready), *extra],
                            env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, f"writer exited with {proc.returncode} before starting"
        assert time.monotonic() < deadline, "writer did not start within 60 s"
        time.sleep(0.05)
    return proc


class Server:
    """``paretoray dashboard RUN_DIR ... --port 0`` in a subprocess."""

    def __init__(self, *run_dirs: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paretoray", "dashboard", *map(str, run_dirs), "--port", "0"],
            env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "http://127.0.0.1:" in line, f"dashboard did not start: {line!r}"
        self.url = line.split()[2]
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@pytest.fixture
def server_factory() -> Iterator:
    servers: list[Server] = []

    def make(*run_dirs: Path) -> Server:
        servers.append(Server(*run_dirs))
        return servers[-1]

    yield make
    for s in servers:
        s.close()
