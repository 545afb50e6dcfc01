"""`driftline collector --workers 2` against the session broker: every worker delivers, /metrics adds them up."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from collector_fixtures import TOKENS, auth, event, read_topic
from prometheus_client.parser import text_string_to_metric_families

from conftest import unique_topics
from driftline.collector.auth import hash_token
from driftline.config import settings_from_dict
from driftline.kafkaio.topics import ensure_topics
from driftline.processes import ManagedProcess, free_port, http_ok


def accepted_total(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "driftline_collector_events_accepted_total"
    )


def test_workers_share_the_port_and_the_metrics(bootstrap: str, tmp_path: Path) -> None:
    topics = unique_topics("workers")
    ensure_topics(bootstrap, settings_from_dict({"topics": topics}).topics)
    port = free_port()
    config = tmp_path / "collector.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[kafka]\nbootstrap_servers = "{bootstrap}"\n'
        f"[collector]\nport = {port}\n"
        f'[devices.dev-a]\ntoken_sha256 = "{hash_token(TOKENS["dev-a"])}"\n'
        + "".join(f'[topics.{r}]\nname = "{t["name"]}"\npartitions = {t["partitions"]}\n' for r, t in topics.items())
        + '[streams.rooms]\ntask = "binary"\nfeatures = { temperature = {}, co2 = {} }\n'
    )
    driftline = str(Path(sys.executable).with_name("driftline"))
    url = f"http://127.0.0.1:{port}"
    server = ManagedProcess(
        "collector", [driftline, "collector", "-c", str(config), "--workers", "2"], tmp_path / "collector.log",
        ready=lambda: http_ok(f"{url}/healthz"),
    )  # fmt: skip
    with server:
        statuses = []
        for n in range(8):  # a connection per request, so both workers get some
            batch = [event(n * 10 + i) for i in range(10)]
            with httpx.Client(base_url=url, timeout=30) as client:
                statuses.append(client.post("/v1/streams/rooms/events", json=batch, headers=auth("dev-a")).status_code)
        assert statuses == [202] * 8
        for _ in range(4):  # whichever worker answers, it reports the sum over all of them
            assert accepted_total(httpx.get(f"{url}/metrics", timeout=10).text) == 80
    assert len(read_topic(bootstrap, topics["events"]["name"], expected=80)) == 80
