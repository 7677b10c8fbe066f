"""``paretoray report``: one HTML file, opened from disk in headless Chromium with networking
disabled, shows runs with m = 2 (scatter), m = 3 (3-D scatter) and m = 4 (parallel
coordinates, a network-like run with checkpoints instead of ``x``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from selenium.common.exceptions import WebDriverException

import paretoray.archive as archive
from paretoray.archive import Store
from tests.viz import _writer
from tests.viz.conftest import ENV, ROOT, chrome, console_errors, requested_urls, screenshot


def _sphere_run(run_dir: Path, m: int, *, with_x: bool) -> None:
    """Three rounds of points on (and above) the DTLZ2 sphere of radius 1 in m objectives."""
    meta = {"problem": "dtlz2", "algorithm": "pmgda",
            "config": {"problem": "dtlz2", "problem_options": {"n_obj": m, "n_var": m + 4}}}
    rng = np.random.default_rng(m)
    with Store.create(run_dir, n_obj=m, n_var=m + 4 if with_x else None, meta=meta) as store:
        for rnd in range(3):
            w = rng.dirichlet(np.ones(m), 12)
            f = w / np.linalg.norm(w, axis=1, keepdims=True) * (1.0 + 0.3 / (rnd + 1))
            kw = ({"x": rng.random((12, m + 4))} if with_x else
                  {"params_ref": [f"checkpoints/{rnd}-{i}.safetensors" for i in range(12)]})
            store.append(f, preference=w, round=rnd, shard=rnd % 2, member=np.arange(12),
                         algorithm="pmgda", step=10 * (rnd + 1), **kw)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("report")
    zdt = base / "zdt1"
    _writer.write(str(zdt), 4, 0.0)
    _sphere_run(base / "dtlz2-m3", 3, with_x=True)
    _sphere_run(base / "net-m4", 4, with_x=False)
    return [zdt, base / "dtlz2-m3", base / "net-m4"]


def test_report_opens_offline_from_disk(runs, tmp_path) -> None:
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "paretoray", "report", *map(str, runs),
                           "-o", str(out)], env=ENV, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "opens offline" in done.stdout
    html = out.read_text()
    assert "cdn.plot.ly" not in html.split("<script", 2)[2][:200]  # plotly.js is inline
    driver = chrome(offline=True)
    try:
        # positive control: a request to the network is recorded, and it fails
        with pytest.raises(WebDriverException, match="ERR_PROXY_CONNECTION_FAILED"):
            driver.get("http://example.com/")
        assert "http://example.com/" in requested_urls(driver)
        console_errors(driver)  # drain the log
        driver.get(out.as_uri())
        deadline = time.monotonic() + 30
        while (driver.execute_script("return document.querySelectorAll('.main-svg').length")
               < 9 and time.monotonic() < deadline):
            time.sleep(0.2)
        for i, run_dir in enumerate(runs):
            shown = driver.find_element("css selector", f"#run-{i} .n-front").text
            assert int(shown) == len(archive.open(run_dir)), run_dir
        kinds = driver.execute_script(
            "return [0, 1, 2].map(i => document.getElementById('front-' + i)._fullData"
            ".find(t => t.name === 'front').type)")
        assert kinds == ["scatter", "scatter3d", "parcoords"]
        # the network-like run shows its checkpoint and how to load it
        driver.execute_script("""const inp = document.querySelector('#detail-2 .row-input');
            inp.value = 0; inp.dispatchEvent(new Event('change'));""")
        detail = driver.find_element("css selector", "#detail-2 .point").text
        ref = archive.open(runs[2]).to_arrow()["params_ref"][0].as_py()
        assert f"checkpoint: {ref}" in detail
        assert "model = front.load_model(i)" in detail
        screenshot(driver, "report_offline.png")
        assert console_errors(driver) == []
        urls = requested_urls(driver)
        assert out.as_uri() in urls
        # chrome:// is the browser's own new-tab page, loaded before ours
        left = [u for u in urls
                if not u.startswith(("file:", "data:", "blob:", "about:", "chrome:"))]
        assert left == [], f"the report requested {left}"
    finally:
        driver.quit()


def test_report_and_dashboard_refuse_bad_input_with_one_line(tmp_path, capsys) -> None:
    from paretoray.cli import main

    assert main(["report", str(tmp_path), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "run.json is missing" in err
    assert not (tmp_path / "r.html").exists()
    assert main(["report", str(tmp_path), "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["dashboard", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is not a directory" in err
    assert main(["dashboard", str(tmp_path), "--port", "70000"]) == 2
    assert "is not a TCP port" in capsys.readouterr().err
