"""Take the README's screenshot of ``paretoray dashboard`` with Debian's headless Chromium.

Usage: python docs/dashboard_screenshot.py RUN_DIR [OUT.png]

Made from ``make run``'s demo (``paretoray demo --run-dir RUN_DIR``) followed by
``paretoray resume RUN_DIR --steps 150 --workers 2``, so the history shows two sessions.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def main(run_dir: str, out: str = "docs/dashboard.png") -> None:
    server = subprocess.Popen([sys.executable, "-m", "paretoray", "dashboard", run_dir,
                               "--port", "0"], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    url = server.stdout.readline().split()[2]
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 f"--user-data-dir={tempfile.mkdtemp()}", "--window-size=1500,1000"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(url)
        time.sleep(4)
        driver.execute_script("""const inp = document.querySelector('#detail-0 .row-input');
            inp.value = Math.floor(views[0].front.point_id.length / 3);
            inp.dispatchEvent(new Event('change'));""")
        time.sleep(1)
        driver.save_screenshot(out)
    finally:
        driver.quit()
        server.terminate()
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
