"""The live dashboard in a real headless Chromium, against a run that a writer is appending to.

The writer is a subprocess using :class:`paretoray.archive.Store` directly (no Ray), two
shards, a pause between rounds; the dashboard is ``paretoray dashboard`` in another
subprocess. Expected values come from other readers: ``paretoray.archive.open`` (the store's
``front.arrow``) and the segment files read with pyarrow.
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import paretoray.archive as archive
from tests.viz import _writer
from tests.viz.conftest import chrome, console_errors, screenshot, start_writer

ROUNDS = 8


def _rows(run_dir: Path) -> pa.Table:
    """Every committed row, read from the segment files with pyarrow, without ``time``."""
    tables = [pa.ipc.open_file(p).read_all() for p in archive.segment_paths(run_dir)]
    table = pa.concat_tables(tables)
    return table.drop_columns(["time"]).replace_schema_metadata(None)


def _files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


def _count(driver, selector: str) -> int:
    text = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        selector)
    return int(text) if text.strip().isdigit() else -1


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """The same run written without any dashboard watching it."""
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    _writer.write(str(run_dir), ROUNDS, 0.0)
    return run_dir


def test_dashboard_follows_a_run_being_written(tmp_path, server_factory, reference_run) -> None:
    run_dir = tmp_path / "live"
    go = tmp_path / "go"
    writer = start_writer(run_dir, ROUNDS, pause_s=1.5, go_file=go)
    server = server_factory(run_dir, reference_run)
    driver = chrome()
    try:
        driver.get(server.url)
        deadline = time.monotonic() + 60
        while _count(driver, "#run-0 .n-front") <= 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = [_count(driver, "#run-0 .n-front")]
        assert seen[0] > 0, "the page never showed the run's first round"
        go.touch()  # now the writer commits the other rounds while the page polls
        deadline = time.monotonic() + 120
        while writer.poll() is None and time.monotonic() < deadline:
            n = _count(driver, "#run-0 .n-front")
            if n > 0 and (not seen or n != seen[-1]):
                seen.append(n)
            time.sleep(0.2)
        assert writer.wait(timeout=5) == 0, "the writer failed under the dashboard"
        final = len(archive.open(run_dir))
        deadline = time.monotonic() + 15
        while _count(driver, "#run-0 .n-front") != final and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _count(driver, "#run-0 .n-front") == final
        assert _count(driver, "#run-0 .n-points") == _rows(run_dir).num_rows
        seen.append(final)
        # the count shown grew with the commits, never shrank (every round adds front points)
        assert len(set(seen)) >= 3, f"front counts seen while writing: {seen}"
        assert seen == sorted(seen), seen
        # the second column is the finished reference run, opened side by side
        assert _count(driver, "#run-1 .n-front") == len(archive.open(reference_run))

        # click the front point nearest the middle of the plot, in the real browser
        from selenium.webdriver.common.action_chains import ActionChains

        gd = driver.find_element("id", "front-0")
        target = driver.execute_script("""
            const gd = arguments[0], tr = gd._fullData.find(t => t.name === 'front');
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const i = Math.floor(tr.x.length / 2), r = gd.getBoundingClientRect();
            return [i, xa._offset + xa.l2p(tr.x[i]) - r.width / 2,
                    ya._offset + ya.l2p(tr.y[i]) - r.height / 2];""", gd)
        row, dx, dy = target
        ActionChains(driver).move_to_element_with_offset(gd, dx, dy).pause(0.3).click().perform()
        time.sleep(0.5)
        detail = driver.find_element("css selector", "#detail-0 .point").text
        front = archive.open(run_dir)
        pid = int(front.point_ids[row])
        assert f"point {pid} (row {row})" in detail
        assert f"list(front.point_ids).index({pid})" in detail
        assert f"paretoray.open({json.dumps(str(run_dir.resolve()))})" in detail
        # the Python shown under the point runs and loads that very point
        namespace: dict = {}
        exec(driver.find_element("css selector", "#detail-0 pre.code").text, namespace)
        assert namespace["point"].point_id == pid
        np.testing.assert_array_equal(namespace["point"].x, front.x[row])
        shown_x = detail.split("decision vector x (d=5): [")[1].split("]")[0]
        np.testing.assert_allclose([float(v) for v in shown_x.split(", ")], front.x[row],
                                   rtol=1e-5, atol=1e-9)
        shot = screenshot(driver, "dashboard_live.png")
        assert shot.stat().st_size > 10_000
        assert console_errors(driver) == []
    finally:
        driver.quit()
        if writer.poll() is None:
            writer.kill()

    # read-only: the archive written under the dashboard equals the one written without it
    live, ref = _rows(run_dir), _rows(reference_run)
    assert live.num_rows == ref.num_rows == ROUNDS * _writer.SHARDS * _writer.P
    assert live.equals(ref)
    assert _files(run_dir) == _files(reference_run)
    np.testing.assert_array_equal(archive.open(run_dir).objectives,
                                  archive.open(reference_run).objectives)


def _get(port: int, path: str, method: str = "GET", host: str | None = None
         ) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body


def test_dashboard_refuses_paths_outside_its_runs(server_factory, reference_run) -> None:
    server = server_factory(reference_run)
    status, body = _get(server.port, "/api/run/0")
    assert status == 200
    assert json.loads(body)["view"]["n_points"] == _rows(reference_run).num_rows
    secret = Path("/etc/hostname").read_bytes().strip() or b"\x00"
    abs_run = str(reference_run.resolve())
    for path in ["/../../../../etc/hostname", "/%2e%2e/%2e%2e/%2e%2e/etc/hostname",
                 "/api/run/..%2F..%2F..%2Fetc%2Fhostname", "/api/run/0/../../../etc/hostname",
                 "//etc/hostname", "/etc/hostname", f"{abs_run}/run.json",
                 f"/{abs_run}/archive/manifest.json", "/run.json", "/archive/manifest.json",
                 "/api/run/1", "/api/run/-1", "/api/run/0%2F..%2F..%2Frun.json",
                 "/plotly.min.js/../../../../etc/hostname", "/api/version/../../run.json"]:
        status, body = _get(server.port, path)
        assert status in (403, 404), (path, status)
        assert secret not in body and b"paretoray.run" not in body, path
    assert _get(server.port, "/api/version", method="POST")[0] == 405
    # DNS rebinding: a page served as evil.example that resolves to 127.0.0.1 is refused
    assert _get(server.port, "/api/run/0", host=f"evil.example:{server.port}")[0] == 403
    assert _get(server.port, "/api/run/0", host=f"localhost:{server.port}")[0] == 200
