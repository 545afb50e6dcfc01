"""``driftline status`` shaping, on answers the real code paths produce in-process.

The trainer's core learns two machines of a per-device stream (one's concept flips) and a room;
it detects the flip and resets the drifted machine, and its outcomes, carrying the detection, go
through the monitor's state. The payloads are then what the trainer's and the monitor's apps answer
on /models, /ui/data and /metrics (through FastAPI's test client: no network), and the
collector's metrics registry as it counts accepted events.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from rich.console import Console

from driftline.collector.metrics import CollectorMetrics
from driftline.config import settings_from_dict
from driftline.config.settings import Settings
from driftline.contracts import SensorEvent
from driftline.monitor.app import create_app as monitor_app
from driftline.monitor.exposition import registry_for
from driftline.monitor.state import MonitorState
from driftline.monitor.webhook import AlertPolicy
from driftline.status.fetching import Snapshot, Sources, fetch, samples
from driftline.status.rendering import render, render_live
from driftline.status.shaping import as_json, shape
from driftline.trainer.api import create_app as trainer_app
from driftline.trainer.core import TrainerCore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
N, FLIP = 2000, 1000  # events per machine; m2's concept flips at FLIP


def events(stream: str, device: str, n: int, flip_at: int | None, seed: int) -> list[SensorEvent]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        x1, x2 = rng.random(), rng.random()
        label = (x1 <= x2) if flip_at is not None and i >= flip_at else (x1 > x2)
        out.append(SensorEvent(event_id=f"{device}-{i}", device_id=device, stream=stream,
                               ts=T0 + timedelta(seconds=i), features={"x1": x1, "x2": x2}, label=label))  # fmt: skip
    return out


class Pipeline:
    """Trainer core (resetting on its own detections) -> monitor state in one process; answers as the apps give them."""

    def __init__(self, settings: Settings) -> None:
        self.core = TrainerCore(settings)
        self.state = MonitorState(settings)
        self.collector = CollectorMetrics()
        self.trainer = TestClient(trainer_app(self.core))
        policy = AlertPolicy(settings.streams)
        self.monitor = TestClient(monitor_app(registry_for(self.state), policy, [].extend, "t0ken", state=self.state))

    def feed(self, batch: list[SensorEvent]) -> None:
        for event in batch:
            self.collector.accepted.labels(event.stream, "http").inc()
            record = self.core.on_event(event)
            if record is not None:
                self.state.observe(record.to_outcome())

    def snapshot(self, taken: float) -> Snapshot:
        from prometheus_client import generate_latest

        answers: dict[tuple[str, str], Any] = {
            ("trainer", "/models"): self.trainer.get("/models").json(),
            ("trainer", "/metrics"): samples(self.trainer.get("/metrics").text),
            ("monitor", "/ui/data"): self.monitor.get("/ui/data").json(),
            ("monitor", "/metrics"): samples(self.monitor.get("/metrics").text),
            ("collector", "/metrics"): samples(generate_latest(self.collector.registry).decode()),
        }
        return Snapshot(taken, answers)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    machines = {"task": "binary", "scope": "device", "features": {"x1": {}, "x2": {}}, "drift": {"data": None}}
    rooms = {"task": "binary", "challengers": ["hoeffding"], "features": {"x1": {}, "x2": {}}, "drift": {"data": None}}
    settings = settings_from_dict(
        {"state_dir": str(tmp_path_factory.mktemp("status")), "streams": {"machines": machines, "rooms": rooms}},
        "test",
    )
    pipeline = Pipeline(settings)
    m1 = events("machines", "m1", N, None, seed=1)
    m2 = events("machines", "m2", N, FLIP, seed=2)
    room = events("rooms", "r1", 600, None, seed=3)
    half = N // 2
    pipeline.feed([e for pair in zip(m1[:half], m2[:half], strict=True) for e in pair])
    first = pipeline.snapshot(taken=1000.0)
    pipeline.feed([e for pair in zip(m1[half:], m2[half:], strict=True) for e in pair] + room)
    second = pipeline.snapshot(taken=1010.0)
    return {"pipeline": pipeline, "first": first, "second": second}


def test_model_keys_versions_and_learned_counts_are_the_trainers(run: dict[str, Any]) -> None:
    status = shape(run["second"], run["first"])
    core = run["pipeline"].core
    keys = {k.model_key: k for s in status.streams for k in s.model_keys}
    assert set(keys) == set(core.slots) == {"machines/m1", "machines/m2", "rooms"}
    for name, slot in core.slots.items():
        assert (keys[name].model, keys[name].version, keys[name].learned) == (
            slot.served.name,
            slot.version,
            slot.learned,
        )
    assert keys["machines/m2"].version == 2 and keys["machines/m1"].version == 1  # m2 was reset, m1 not
    assert keys["machines/m2"].concept_drifts == 1 and keys["machines/m2"].last_drift.kind == "concept"
    assert keys["machines/m1"].concept_drifts == 0 and keys["machines/m1"].last_drift is None
    # The key's recent score is the monitor's newest point of it.
    [machines] = [s for s in run["second"].get("monitor", "/ui/data")["streams"] if s["stream"] == "machines"]
    [m1] = [k for k in machines["keys"] if k["model_key"] == "machines/m1"]
    assert keys["machines/m1"].recent_score == m1["score"][-1] > 0.8


def test_streams_carry_counts_scores_drifts_resets_and_rates(run: dict[str, Any]) -> None:
    status = shape(run["second"], run["first"])
    machines, rooms = status.streams
    assert (machines.stream, rooms.stream) == ("machines", "rooms")
    state = run["pipeline"].state
    assert machines.predicted == machines.judged == machines.consumed == 2 * N
    assert rooms.predicted == rooms.judged == 600
    assert machines.learned == 2 * N and machines.resets == 1 and rooms.resets == 0
    assert machines.concept_drifts == 1 and rooms.concept_drifts == 0
    assert machines.last_drift is not None and machines.last_drift.kind == "concept"
    assert machines.last_drift.ts == max(state.last_drift_ts.values())
    assert machines.versions == (1, 2) and rooms.versions == (1, 1)
    [scores] = machines.scores.values()
    series = state.series[("machines", "logistic")].scores["prequential"].values()
    assert scores == {"cumulative": series[("accuracy", "cumulative")], "rolling": series[("accuracy", "rolling")]}
    # Between the two looks (10 s apart) the trainer consumed N machine events and all 600 room events.
    assert machines.events_per_s == N / 10 and rooms.events_per_s is None  # rooms had no count at the first look
    assert machines.ingest_per_s == N / 10
    assert status.failures == [] and status.answered == ["collector", "monitor", "trainer"]


def test_without_a_previous_look_there_is_no_rate_and_a_restarted_counter_gives_none(run: dict[str, Any]) -> None:
    assert all(s.events_per_s is None for s in shape(run["second"]).streams)
    backwards = shape(run["first"], run["second"])  # counters lower than before: a restart, not a rate
    assert all(s.events_per_s is None for s in backwards.streams)


def test_a_service_that_did_not_answer_leaves_its_part_empty_and_is_named(run: dict[str, Any]) -> None:
    answers = {k: v for k, v in run["second"].answers.items() if k[0] != "monitor"}
    partial = Snapshot(run["second"].taken, answers, {("monitor", "http://127.0.0.1:9"): "did not answer"})
    status = shape(partial)
    machines = status.streams[0]
    assert machines.judged is None and machines.scores == {} and machines.concept_drifts is None
    assert {k.model_key: k.version for k in machines.model_keys} == {"machines/m1": 1, "machines/m2": 2}
    assert [f.describe() for f in status.failures] == ["monitor http://127.0.0.1:9 did not answer"]
    assert status.answered == ["collector", "trainer"]


def test_json_and_tables_show_what_was_shaped(run: dict[str, Any]) -> None:
    status = shape(run["second"], run["first"])
    data = as_json(status)
    machines = data["streams"][0]
    assert machines["versions"] == [1, 2] and machines["resets"] == 1
    assert {k["model_key"]: k["learned"] for k in machines["model_keys"]} == {
        key: slot.learned for key, slot in run["pipeline"].core.slots.items() if key.startswith("machines/")
    }
    text = printed(render(status))
    assert row(text, "model versions") == ["1-2", "1"] and row(text, "resets") == ["1", "0"]
    assert row(text, "events/s") == [f"{N / 10:,.0f}", "-"]
    assert row(text, "machines/m2")[:3] == ["logistic", "2", f"{N:,}"]
    live = printed(render_live(status))
    assert row(live, "model versions") == ["1-2", "1"] and "machines/m2" not in live  # no per-key rows


def test_each_candidate_shows_its_score_beside_its_time_per_event(run: dict[str, Any]) -> None:
    status = shape(run["second"])
    machines, rooms = status.streams
    slot = run["pipeline"].core.slots["rooms"]
    assert [c.model for c in rooms.candidates] == ["hoeffding", "logistic"]
    for shown in rooms.candidates:
        [candidate] = [c for c in slot.candidates if c.name == shown.model]
        assert shown.score_name == "accuracy" and shown.score == candidate.score
        assert shown.learn_us == pytest.approx(candidate.learn_us) and shown.predict_us == pytest.approx(
            candidate.predict_us
        )
    # Machines' lone champions keep no score: only their time, summed over both model keys.
    [logistic] = machines.candidates
    assert logistic.score is None and logistic.learn_us is not None
    text = printed(render(status)).split("candidates (trainer)")[1]
    cells = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip().startswith("rooms  ")]
    assert [c[:3] for c in cells] == [["rooms", "hoeffding", f"accuracy {slot.candidates[1].score:.3f}"],
                                      ["rooms", "logistic", f"accuracy {slot.candidates[0].score:.3f}"]]  # fmt: skip


def printed(renderable: Any) -> str:
    console = Console(width=160, record=True)
    console.print(renderable)
    return console.export_text()


def row(text: str, name: str) -> list[str]:
    """The cells after ``name`` on its line of a printed table (cells are two or more spaces apart)."""
    [line] = [line for line in text.splitlines() if line.strip().startswith(name + "  ")]
    return re.split(r"\s{2,}", line.strip()[len(name) :].strip())


def test_the_token_and_urls_come_from_the_config_unless_given() -> None:
    settings = settings_from_dict({"trainer": {"api_token": "from-config"}}, "test")
    sources = Sources.of(settings)
    assert sources.trainer == f"http://127.0.0.1:{settings.trainer.port}" and sources.token == "from-config"
    given = Sources.of(settings, trainer="http://h:1/", token="")
    assert (given.trainer, given.token) == ("http://h:1", "")
    with pytest.raises(typer.BadParameter, match="'h:1' is not an http:// or https:// URL"):
        Sources.of(settings, monitor="h:1")


def test_a_trainer_with_many_keys_shows_the_first_of_each_stream(tmp_path: Path) -> None:
    machines = {"task": "binary", "scope": "device", "features": {"x1": {}, "x2": {}}}
    core = TrainerCore(settings_from_dict({"state_dir": str(tmp_path), "streams": {"machines": machines}}, "test"))
    for i in range(30):
        core.on_event(events("machines", f"m{i:03d}", 1, None, seed=i)[0])
    models = TestClient(trainer_app(core)).get("/models").json()
    status = shape(Snapshot(0.0, {("trainer", "/models"): models}))
    assert len(status.streams[0].model_keys) == 30
    text = printed(render(status, keys=5))
    assert "machines/m004" in text and "machines/m005" not in text and "25 more of machines" in text


def test_two_monitors_holding_a_partition_each_add_up_to_one(tmp_path: Path) -> None:
    """Monitors of one group split the partitions: status merges their answers into the figures one would give."""
    import httpx

    machines = {"task": "binary", "scope": "device", "features": {"x1": {}, "x2": {}}, "drift": {"data": None}}
    settings = settings_from_dict({"state_dir": str(tmp_path), "streams": {"machines": machines}}, "test")
    core = TrainerCore(settings)
    one, first, second = MonitorState(settings), MonitorState(settings), MonitorState(settings)
    batch = events("machines", "m1", 900, None, seed=1) + events("machines", "m2", 1500, 700, seed=2)
    for event in batch:
        record = core.on_event(event)
        outcome = record.to_outcome()
        unit = "p0" if outcome.device_id == "m1" else "p1"
        one.observe(outcome, unit)
        (first if unit == "p0" else second).observe(outcome, unit)
    policy = AlertPolicy(settings.streams)
    apps = {
        host: TestClient(monitor_app(registry_for(state), policy, [].extend, "t0ken", state=state))
        for host, state in (("one", one), ("a", first), ("b", second))
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host not in apps:
            return httpx.Response(404)
        got = apps[request.url.host].get(request.url.path)
        return httpx.Response(got.status_code, content=got.content, headers=dict(got.headers))

    def look(*monitors: str) -> Any:
        sources = Sources("http://nobody:1", tuple(f"http://{m}" for m in monitors), "http://nobody:1")
        snapshot = fetch(sources, client=httpx.Client(transport=httpx.MockTransport(answer)))
        [status] = shape(snapshot).streams
        return status

    both, alone = look("a", "b"), look("one")
    assert both.judged == alone.judged == 2400 and both.concept_drifts == alone.concept_drifts == 1
    assert both.last_drift == alone.last_drift and both.last_drift is not None
    # Accuracy weighted by the outcomes each monitor scored is the pooled accuracy, to the last bits.
    assert both.scores.keys() == alone.scores.keys() == {"logistic"}
    for window, value in alone.scores["logistic"].items():
        assert both.scores["logistic"][window] == pytest.approx(value, rel=1e-12)
    assert {k.model_key: k.concept_drifts for k in both.model_keys} == {"machines/m1": 0, "machines/m2": 1}
    assert look("a").judged == 900  # one monitor alone shows its own partitions
