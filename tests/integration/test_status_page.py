"""The monitor's status page in a real browser: headless Chromium after a real run on the real broker.

The trainer learns two machines of a per-device stream; one machine's concept flips, the monitor
detects it and the trainer resets that machine's model. Then Chromium (Debian's, driven through
chromedriver by Selenium) loads /ui, and the charts must hold the run's points, the drift and the
new version, with a row for every model key. CI installs chromium and chromium-driver (``./run``):
a missing browser fails the test, it never skips it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from monitor_fixtures import wait_for
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_drift_reaction import machine_events, send_paced, versions

from conftest import unique_topics
from driftline.config import settings_from_dict
from driftline.kafkaio.topics import ensure_topics
from driftline.monitor.service import MonitorService
from driftline.trainer.runner import TrainerRunner

pytestmark = pytest.mark.kafka
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
)
#: Where to save the page's picture too, when set (docs/img/status-page.png is made this way).
SCREENSHOT_ENV = "DRIFTLINE_STATUS_SCREENSHOT"


def chromium_paths() -> tuple[str, str]:
    """Chromium and chromedriver, or a failure saying how to install them (the test must not skip)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    if browser is None or driver is None:
        pytest.fail(
            "the status-page test needs Chromium and chromedriver: install the Debian packages chromium and "
            "chromium-driver (./run test does so as root)",
            pytrace=False,
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    binary, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, "--window-size=1500,1100"):
        options.add_argument(flag)
    try:
        # Explicit paths: Selenium Manager would otherwise try to download a browser.
        chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    except WebDriverException as e:
        pytest.fail(f"Chromium ({binary}) did not start through {driver}: {e.msg}", pytrace=False)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real run: the trainer learns m1 and m2 (whose concept flips), the monitor judges, m2 is reset."""
    n, flip_at, pace = 3000, 1500, 500
    stream = {"task": "binary", "scope": "device", "features": {"x1": {}, "x2": {}}, "drift": {"data": None}}
    state = tmp_path_factory.mktemp("status-page")
    settings = settings_from_dict(
        {
            "kafka": {"bootstrap_servers": bootstrap},
            "topics": unique_topics("ui"),
            "trainer": {"group_id": f"trainer-{state.name}", "port": 0},
            "monitor": {"group_id": f"monitor-{state.name}", "port": 0, "webhook_token": "ui-test-token"},
            "state_dir": str(state),
            "streams": {"machines": stream},
        },
        "test",
    )
    ensure_topics(bootstrap, settings.topics)
    m1, m2 = machine_events("m1", n, None, seed=1), machine_events("m2", n, flip_at, seed=2)
    with MonitorService(settings, bootstrap, port=0) as monitor, TrainerRunner(settings, bootstrap, port=0) as trainer:
        send_paced(bootstrap, settings.topics.events.name, m1, m2, pace)
        wait_for(lambda: sum(monitor.state.accepted.values()) == 2 * n, "every outcome judged", timeout=180)
        yield {"monitor": monitor, "versions": versions(trainer)}


def test_the_status_page_draws_every_model_key_with_its_drift_and_reset(
    run: dict[str, Any], browser: webdriver.Chrome
) -> None:
    assert run["versions"] == {"machines/m1": 1, "machines/m2": 2}
    browser.get(f"{run['monitor'].url}/ui")
    charts = "#stream-machines .chart"
    WebDriverWait(browser, 30).until(
        lambda b: (
            b.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") == "true"
            and len(b.find_elements(By.CSS_SELECTOR, charts)) == 2
        )
    )
    drawn = {c.get_attribute("data-model-key"): c for c in browser.find_elements(By.CSS_SELECTOR, charts)}
    assert set(drawn) == {"machines/m1", "machines/m2"}
    # 3,000 labelled outcomes per key, a point per 50: the chart library holds them, not just the DOM.
    for key, chart in drawn.items():
        points = int(chart.get_attribute("data-points"))
        assert 55 <= points <= 60, key
        values = browser.execute_script(
            "const p = window.driftlineCharts.get(arguments[0]).plot;"
            "return p.data[1].filter(v => v !== null && Number.isFinite(v)).length;",
            chart.get_attribute("id"),
        )
        assert values == points, key
    assert int(drawn["machines/m1"].get_attribute("data-marks")) == 0
    # m2: its detection and its new version are marked on its chart.
    assert int(drawn["machines/m2"].get_attribute("data-marks")) >= 2
    for key in ("machines/m1", "machines/m2"):
        row = browser.find_element(By.CSS_SELECTOR, f'table.keys tr[data-model-key="{key}"]')
        assert key in row.text
    model_row = browser.find_element(By.CSS_SELECTOR, 'table.models tr[data-stream="machines"]')
    assert model_row.find_elements(By.TAG_NAME, "td")[1].text == "2"  # the highest version seen
    # The trainer's time per event, from the outcomes: what the served model's slot costs to predict and learn.
    for cell in ("predict-us", "learn-us"):
        assert float(model_row.find_element(By.CSS_SELECTOR, f"td.{cell}").text) > 0, cell
    assert browser.find_element(By.CSS_SELECTOR, "canvas").size["width"] > 0
    if target := os.environ.get(SCREENSHOT_ENV):
        browser.save_screenshot(target)


def test_the_page_is_open_like_metrics_while_the_webhook_keeps_its_token(run: dict[str, Any]) -> None:
    url = run["monitor"].url
    for path in ("/ui", "/ui/data", "/ui/uPlot.iife.min.js", "/ui/status.js", "/ui/uPlot.min.css"):
        assert httpx.get(f"{url}{path}", timeout=10).status_code == 200, path
    assert httpx.post(f"{url}/alerts", json={}, timeout=10).status_code == 401
    data = httpx.get(f"{url}/ui/data", timeout=10).json()
    [stream] = data["streams"]
    assert {k["model_key"]: k["version"] for k in stream["keys"]} == {"machines/m1": 1, "machines/m2": 2}
    [m2] = [k for k in stream["keys"] if k["model_key"] == "machines/m2"]
    assert [m["kind"] for m in m2["marks"]].count("version") == 1
    assert "drift" in [m["kind"] for m in m2["marks"]]
