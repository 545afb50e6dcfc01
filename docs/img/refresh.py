"""Remake the README's pictures of a stack run: ``python docs/img/refresh.py [--seed 0]``.

Runs ``driftline stack`` (seed 0, free ports) until it holds, then saves into this folder:
``stack-run.png`` (the run's picture), ``status-page.png`` (the monitor's /ui in headless Chromium,
as the status-page test loads it) and ``stack-report.txt`` (the drift report as printed), and
stops the stack. Needs what ``./run test`` installs (Chromium, chromedriver, selenium).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--window-size=1500,1100")  # fmt: skip


def screenshot(url: str, target: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(
        options=options, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    )
    try:
        browser.get(url)
        WebDriverWait(browser, 60).until(lambda b: b.execute_script("return document.body.dataset.loaded") == "true")
        time.sleep(1)  # the charts draw on the next frame
        browser.save_screenshot(str(target))
    finally:
        browser.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="driftline-pictures-"))
    env = {**os.environ, "DRIFTLINE_STATE_DIR": str(state), "COLUMNS": "120"}
    argv = [sys.executable, "-m", "driftline.cli", "stack", "--free-ports", "--seed", str(args.seed)]
    stack = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert stack.stdout is not None
    printed = []
    try:
        for line in stack.stdout:
            printed.append(line)
            print(line, end="")
            if "the stack keeps running" in line:
                break
        else:
            raise SystemExit(f"driftline stack ended with {stack.wait()} before it held")
        text = "".join(printed)
        monitor = re.search(r"monitor\s+(http://\S+)", text)
        if monitor is None:
            raise SystemExit("driftline stack printed no monitor URL")
        report = text[text.index("drift report") : text.index("\n", text.index("true drifts that lowered"))]
        (HERE / "stack-report.txt").write_text(report + "\n")
        shutil.copy(state / "stack" / "latest" / "drift.png", HERE / "stack-run.png")
        screenshot(f"{monitor.group(1)}/ui", HERE / "status-page.png")
        print(f"wrote {HERE / 'stack-report.txt'}, stack-run.png and status-page.png")
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(120)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
