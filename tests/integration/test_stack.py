"""The whole pipeline as `driftline stack` runs it: simulator -> collector (HTTP) -> Kafka -> trainer ->
monitor -> Prometheus -> Alertmanager -> webhook -> control -> trainer. Every process is the real one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_queries import dashboard_queries, has_data, unknown_metrics
from kafka_helpers import make_producer, produce

from conftest import REPO, unique_topics
from driftline.collector.simulator import SimOptions
from driftline.collector.simulator.run import run_simulation
from driftline.config import load_settings
from driftline.config.settings import Settings, Topics
from driftline.contracts import ControlCommand
from driftline.drift_report import AT_DRIFT, DATA_CLASSES, VERDICTS
from driftline.httpserver import exposed_total
from driftline.kafkaio.topics import ensure_topics
from driftline.stack import (
    SCENARIOS,
    LocalStack,
    StackPorts,
    device_tokens,
    draw_run,
    report_run,
    wait_until_drained,
)

EVENTS = 3000  # per scenario: enough for the simulator's first abrupt drift to be detected
DEVICES = 3
CONFIG = REPO / "config" / "driftline.toml"
# Dashboard queries that may rightly be empty after this run: the regression panels (the simulated
# fleet is all classification; test_monitor_prometheus.py runs the monitor's on a regression stream), and
# what this run may not do: promote a challenger.
MAY_BE_EMPTY = {
    "driftline_mae",
    "driftline_rmse",
    "driftline_r2",
    "driftline_prediction_quantile",
    "driftline_trainer_promotions_total",
    "driftline_trainer_candidate_mae",
}


@pytest.fixture(scope="module")
def stack_run(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("stack")
    base = load_settings(CONFIG)
    run = uuid.uuid4().hex[:8]
    settings = base.model_copy(
        update={
            "topics": Topics(**unique_topics("stack")),
            "state_dir": state,
            "kafka": base.kafka.model_copy(update={"bootstrap_servers": bootstrap}),
            # Groups of their own, so no member of another test's group delays this one's start.
            "trainer": base.trainer.model_copy(update={"group_id": f"trainer-{run}"}),
            "monitor": base.monitor.model_copy(update={"group_id": f"monitor-{run}"}),
        }
    )
    ensure_topics(bootstrap, settings.topics)
    tokens = device_tokens(SCENARIOS, DEVICES)
    ports = StackPorts.of(settings, free=True)
    # Scraped every second, not every 5 s as by default: the waits for Prometheus to have seen something
    # (the drain, the dashboard test's) end as soon as it has, and the dashboards' rate() windows still
    # get their samples.
    with LocalStack(settings, bootstrap, state, ports, tokens, scrape_interval="1s", config=CONFIG) as local:
        report = run_simulation(
            settings,
            scenarios=SCENARIOS,
            options=SimOptions(devices=DEVICES, events=EVENTS, seed=3),
            collector_url=local.url("collector"),
            tokens=tokens,
            out_dir=state / "simulation",
        )
        assert wait_until_drained(local, timeout=240), "the trainer or the monitor did not catch up"
        seen = int(float(local.query("sum(driftline_predictions_total)")[0]["value"][1]))
        yield {"local": local, "report": report, "seen": seen, "settings": settings}


def test_every_simulated_event_is_predicted_once(stack_run: dict[str, Any]) -> None:
    report = stack_run["report"]
    assert report.rejected == 0
    assert report.events > 2 * EVENTS  # the simulator sends some events twice on purpose
    assert stack_run["seen"] == 2 * EVENTS  # ... and the trainer drops those duplicates
    by_stream = {s["metric"]["stream"]: float(s["value"][1]) for s in stack_run["local"].query(
        "sum by (stream) (driftline_predictions_total)")}  # fmt: skip
    assert by_stream == {"rooms": EVENTS, "machines": EVENTS}


def test_the_models_learn(stack_run: dict[str, Any]) -> None:
    accuracy = stack_run["local"].query('driftline_accuracy{estimate="prequential", window="cumulative"}')
    assert {s["metric"]["stream"] for s in accuracy} == {"rooms", "machines"}
    assert all(float(s["value"][1]) > 0.7 for s in accuracy), accuracy


def test_a_concept_drift_resets_the_model_key_that_drifted_end_to_end(stack_run: dict[str, Any]) -> None:
    local: LocalStack = stack_run["local"]
    detected = local.query('sum by (stream) (driftline_drift_detected_total{kind="concept"})')
    assert any(float(s["value"][1]) > 0 for s in detected), f"no concept drift detected: {detected}"
    # The trainer resets the model key at the outcome the monitor reports the detection on; the
    # stack has drained, so the reset is in /models already (the loop is kept for a slow scrape).
    deadline = time.monotonic() + 60
    while True:
        models = httpx.get(f"{local.url('trainer')}/models").json()
        if any(m["model_version"] >= 2 for m in models):
            break
        assert time.monotonic() < deadline, f"no model key was reset: {models}"
        time.sleep(0.5)
    metrics = httpx.get(f"{local.url('trainer')}/metrics").text
    resets = sum(exposed_total(metrics, "driftline_trainer_drift_reactions_total", action=a) for a in ("warm", "cold"))
    assert resets >= 1
    # People are told: Prometheus fires DriftlineConceptDrift, Alertmanager has it (notify only).
    deadline = time.monotonic() + 90
    while True:
        alerts = httpx.get(f"{local.url('alertmanager')}/api/v2/alerts").json()
        fired = [a for a in alerts if a["labels"]["alertname"] == "DriftlineConceptDrift"]
        if fired or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert fired and all(a["labels"]["action"] == "notify" for a in fired)


def wait_for_scrapes(local: LocalStack, n: int, timeout: float = 60.0) -> None:
    """Wait until Prometheus has scraped the monitor ``n`` more times."""

    def scrapes() -> int:
        return int(float(local.query('count_over_time(up{job="driftline-monitor"}[1h])')[0]["value"][1]))

    target = scrapes() + n
    deadline = time.monotonic() + timeout
    while scrapes() < target:
        assert time.monotonic() < deadline, "Prometheus did not scrape the monitor again in time"
        time.sleep(0.5)


def post_bad_input(local: LocalStack) -> None:
    """What the simulated fleet never sends: an invalid item, a body that is not JSON, a bad token."""
    device, token = next(iter(local.tokens.items()))
    stream = device.rsplit("-", 1)[0]
    url = f"{local.url('collector')}/v1/streams/{stream}/events"
    headers = {"X-Device-Id": device, "Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    assert httpx.post(url, json=[{"nope": 1}], headers=headers).status_code == 422
    assert httpx.post(url, content=b"{nope", headers=headers).status_code == 422
    assert httpx.post(url, json=[], headers={**headers, "Authorization": "Bearer wrong"}).status_code == 401


def send_a_record_that_is_no_event(bootstrap: str, topic: str) -> None:
    """Past the collector, straight onto the events topic: the trainer dead-letters it."""
    producer = make_producer(bootstrap)
    producer.send(topic, key=b"rooms", value=b"{nope").get(timeout=30)
    producer.close()


def reset_by_command(settings: Settings, bootstrap: str, stream: str) -> None:
    """What `driftline reset --stream <stream>` sends."""
    command = ControlCommand(command_id=f"test-{uuid.uuid4().hex}", action="reset", stream=stream, issuer="test")
    produce(bootstrap, settings.topics.control.name, [(stream, command)])


def wait_until_prometheus_has(local: LocalStack, promql: str, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not local.query(promql):
        assert time.monotonic() < deadline, f"Prometheus saw no {what}"
        time.sleep(1)


def test_every_dashboard_query_has_data_after_a_real_run(stack_run: dict[str, Any], bootstrap: str) -> None:
    local: LocalStack = stack_run["local"]
    post_bad_input(local)
    send_a_record_that_is_no_event(bootstrap, stack_run["settings"].topics.events.name)
    # Machines, not rooms: rooms is the stream with a challenger, and a reset empties its candidates' rolling
    # accuracy until they score again, which no later event of this run lets them do. Gone from the scrape,
    # the gauge is marked stale, and a query range's 15 s steps could all miss a series that lived only from
    # the run's first scrapes to the command (CI once saw none: the run drains in seconds).
    reset_by_command(stack_run["settings"], bootstrap, "machines")
    # The run's first reset after a drift may still be on its way, as may the command's and the dead letter.
    wait_until_prometheus_has(local, "driftline_trainer_messages_invalid_total > 0", "dead letter of the trainer")
    wait_until_prometheus_has(local, 'driftline_trainer_drift_reactions_total{action=~"warm|cold"} > 0', "drift reset")
    wait_until_prometheus_has(local, 'driftline_trainer_commands_total{status="applied"} > 0', "reset by command")
    wait_for_scrapes(local, 2)  # rate() windows need two samples of every series
    prometheus = local.url("prometheus")
    queries = dashboard_queries()
    assert {q.dashboard for q in queries} >= {"driftline-fleet.json", "driftline-accuracy.json"}
    empty = [q for q in queries if not has_data(prometheus, q)]
    assert [str(q) for q in empty if not q.metrics & MAY_BE_EMPTY] == []
    # A query this run leaves empty still names metrics the services declare: no typo hides there.
    assert unknown_metrics(prometheus, {m for q in empty for m in q.metrics}) == []


def test_the_ground_truth_is_written_and_drawn_with_the_run(stack_run: dict[str, Any], bootstrap: str) -> None:
    truth = json.loads(Path(stack_run["report"].truth_file).read_text())
    assert {p["stream"] for p in truth["drift_points"]} == {"rooms", "machines"}
    picture = draw_run(stack_run["settings"], bootstrap, truth["drift_points"], stack_run["local"].state / "drift.png")
    assert picture.read_bytes()[:4] == b"\x89PNG"
    # The report scores every true drift; the first (abrupt) one of each stream is found.
    report = report_run(stack_run["settings"], bootstrap, truth["drift_points"], truth["faults"])
    assert len(report.drifts) == len(truth["drift_points"]) and set(report.false_alarms) == {"rooms", "machines"}
    firsts = [min((d for d in report.drifts if d.stream == s), key=lambda d: d.start) for s in ("rooms", "machines")]
    assert any(d.detected and d.detection_delay_events is not None for d in firsts), report.rows()
    # Each drift says what it did to every model key's accuracy (one key for rooms, one per machine), and its verdict
    # is one of the allowed; the abrupt drift that was found had hurt a key (it is no "no change to detect").
    assert all({k.model_key for k in d.keys} == ({"rooms"} if d.stream == "rooms" else {
        f"machines/machines-{i:03d}" for i in range(DEVICES)}) for d in report.drifts), report.rows()  # fmt: skip
    assert all(row[3].split(" (")[0] in VERDICTS for row in report.rows()), report.rows()
    assert any(d.detected and d.hurt for d in firsts), report.rows()
    # Every data drift is classed, and those at a true drift are counted on its row.
    classes = report.data_drift_classes()
    assert set(classes) <= {"rooms", "machines"} and all(set(c) <= set(DATA_CLASSES) for c in classes.values())
    assert sum(d.data_drifts for d in report.drifts) == sum(c[AT_DRIFT] for c in classes.values())
    # The simulator's sensor faults, read back from the outcomes' cleaning steps: every stuck sensor is recognised
    # as one (its device's reading repeated 20 times; recognised at the 10th), and nothing else is called stuck.
    injected = {(f["stream"], f["kind"]) for f in truth["faults"]}
    assert report.faults and set(report.faults) <= {"rooms", "machines"}, report.faults
    for stream, kinds in report.faults.items():
        found, total, other = kinds["stuck"]
        assert found == total and other == 0, (stream, kinds)
        assert (total > 0) == ((stream, "stuck") in injected)


def test_a_foreign_server_on_a_stack_port_fails_the_stack_at_once_in_one_line(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        env = {**os.environ, "DRIFTLINE_STATE_DIR": str(tmp_path), "DRIFTLINE_TRAINER__PORT": str(port)}
        env.pop("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", None)
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "driftline.cli", "stack", "--no-hold", "-c", str(CONFIG)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
    took = time.monotonic() - began
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"error: trainer: port {port} is already in use by another program"
    assert "Kafka on" not in result.stdout  # nothing was started
    assert took < 30, f"the clash took {took:.0f}s to be reported"


def report_of(stdout: str) -> str:
    """The drift report as `driftline stack` prints it: its table, then its lines up to the drifts that hurt a key."""
    start = stdout.index("drift report")
    return stdout[start : stdout.index("\n", stdout.index("true drifts that lowered", start))]


#: The arguments of both runs that must print the same drift report.
SEEDED_RUN = ("--events", "4000", "--devices", "3", "--seed", "5")


@dataclass
class HeldStack:
    """`driftline stack` as a user runs it (its own Kafka, free ports), up after its run; and what a second
    run with the same seed printed (:attr:`twin`), run beside it in the same checkout."""

    printed: str
    state_dir: Path
    twin: subprocess.CompletedProcess[str]

    def printed_after(self, label: str) -> str:
        found = re.search(rf"^\s*{label}\s+(\S+)", self.printed, re.MULTILINE)
        assert found, f"driftline stack printed no {label!r}:\n{self.printed}"
        return found.group(1)

    @property
    def run(self) -> Path:
        """This run's folder, as it says at its start."""
        return Path(self.printed_after("this run's state:"))

    @property
    def bootstrap(self) -> str:
        return self.printed_after("Kafka on").rstrip(";")


def stack_env(state_dir: Path) -> dict[str, str]:
    env = {**os.environ, "DRIFTLINE_STATE_DIR": str(state_dir), "COLUMNS": "160"}
    env.pop("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", None)
    return env


@pytest.fixture(scope="module")
def held_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldStack]:
    checkout = tmp_path_factory.mktemp("checkout")
    state_dir = checkout / ".driftline"
    env = stack_env(state_dir)
    with (checkout / "stack.stderr").open("w") as stderr:
        stack = subprocess.Popen(
            [sys.executable, "-m", "driftline.cli", "stack", "--free-ports", "-c", str(CONFIG), *SEEDED_RUN],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
    assert stack.stdout is not None
    printed: list[str] = []
    twin: subprocess.Popen[str] | None = None
    twin_out, twin_err = checkout / "twin.stdout", checkout / "twin.stderr"
    try:
        for line in stack.stdout:
            printed.append(line)
            if twin is None and line.split()[:1] == ["alertmanager"]:
                # Every port of this stack is taken now: the second run, in the same checkout with a folder
                # and a Kafka of its own, starts beside it and runs while this one simulates (the two
                # printing the same drift report is the point; the same seed must not depend on timing).
                with twin_out.open("w") as out, twin_err.open("w") as err:
                    twin = subprocess.Popen(
                        [sys.executable, "-m", "driftline.cli", "stack", "--no-hold", "--free-ports", "-c",
                         str(CONFIG), *SEEDED_RUN], stdout=out, stderr=err, text=True, env=env,
                    )  # fmt: skip
            if "the stack keeps running" in line:
                break
        else:
            pytest.fail(f"driftline stack ended with {stack.wait()} before it held:\n{''.join(printed)[-4000:]}\n"
                        f"{(checkout / 'stack.stderr').read_text()[-4000:]}")  # fmt: skip
        assert "did not catch up" not in "".join(printed)
        assert twin is not None, "".join(printed)
        # Done before any test uses the held stack: none of them sees a run folder appear meanwhile.
        code = twin.wait(timeout=900)
        done = subprocess.CompletedProcess(twin.args, code, twin_out.read_text(), twin_err.read_text())
        held = HeldStack("".join(printed), state_dir, done)
        # The twin started last, so `latest` links its (finished) run: link the held run again, as a user who
        # started only the held stack has it (the README's commands go through `latest`).
        latest = state_dir / "stack" / "latest"
        link = latest.with_name(".latest-test")
        link.unlink(missing_ok=True)
        link.symlink_to(held.run.relative_to(latest.parent))
        link.replace(latest)
        yield held
    finally:
        if twin is not None and twin.poll() is None:
            twin.kill()
            twin.wait()
        stack.send_signal(signal.SIGINT)
        stack.communicate(timeout=120)


def readme_device_block() -> str:
    """The README's commands that send one event as the user's own device, exactly as written there."""
    readme = (REPO / "README.md").read_text()
    found = re.search(r"<!-- your-own-device:[^\n]*-->\n```sh\n(.*?)\n```\n", readme, re.DOTALL)
    assert found, "README.md lost its block of the user's own device's commands"
    return found.group(1)


def test_the_readmes_curl_and_mosquitto_pub_send_events_that_get_outcomes(held_stack: HeldStack) -> None:
    import os
    import stat
    import subprocess

    from driftline.contracts import Outcome
    from driftline.drift_plot import read_messages
    from driftline.stack import USER_DEVICE

    checkout = held_stack.state_dir.parent
    device_file = Path(held_stack.printed_after("your own device:"))
    assert device_file.parent == held_stack.run
    assert stat.S_IMODE(device_file.stat().st_mode) == 0o600
    assert (checkout / ".driftline" / "stack" / "latest" / "device.env").resolve() == device_file.resolve()
    block = readme_device_block()
    assert "curl " in block and "mosquitto_pub " in block and "-q 1" in block
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"accepted": 1, "rejected": 0}, done.stdout  # curl's answer
    topic = load_settings(CONFIG).topics.outcomes

    def mine() -> dict[str, Outcome]:
        outcomes = read_messages(held_stack.bootstrap, topic.name, topic.partitions, Outcome)
        return {o.event_id.split("-")[0]: o for o in outcomes if o.device_id == USER_DEVICE}

    found = polled(lambda: (seen := mine()).keys() >= {"http", "mqtt"} and seen, "outcome of both events", 60)
    assert {o.stream for o in found.values()} == {"rooms"} and found["http"].label is True, found
    assert found["mqtt"].label is False, found


def test_two_stack_runs_with_the_same_seed_print_the_same_drift_report(held_stack: HeldStack) -> None:
    # The second run beside the first, in the same checkout: a folder of its own, its own Kafka on a free port.
    result = held_stack.twin
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "did not catch up" not in result.stdout
    reports = [report_of(held_stack.printed), report_of(result.stdout)]
    assert reports[0] == reports[1]
    assert "yes (" in reports[0], reports[0]  # not vacuous: true drifts were detected, and scored
    runs = {Path(found) for found in re.findall(r"^this run's state: (\S+)", held_stack.printed + result.stdout, re.M)}
    assert len(runs) == 2 and {run.parent for run in runs} == {held_stack.state_dir / "stack" / "runs"}


def checkpoint_logs(run: Path) -> dict[str, bytes]:
    """The log segments holding records of the checkpoints topic in a stack run's own Kafka."""
    topic = load_settings(CONFIG).topics.checkpoints.name
    segments = sorted((run / "kafka").rglob(f"{topic}-*/*.log"))
    return {str(p.relative_to(run)): p.read_bytes() for p in segments if p.stat().st_size}


def polled(value: Any, what: str, timeout: float = 90) -> Any:
    """``value()`` once it is not empty."""
    deadline = time.monotonic() + timeout
    while not (found := value()):
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(1)
    return found


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_stack_beside_a_running_one_fails_at_its_port_and_deletes_nothing(held_stack: HeldStack) -> None:
    import os
    import subprocess
    import sys

    run, bootstrap = held_stack.run, held_stack.bootstrap
    stack_dir = held_stack.state_dir / "stack"
    assert run.parent == stack_dir / "runs"
    # The trainer checkpoints a changed model key, and the archiver writes what it holds, within 30 s.
    checkpoints = polled(lambda: checkpoint_logs(run), "checkpoint in the running stack's Kafka")
    lake = polled(lambda: files_under(run / "lake"), "file in the running stack's lake")
    key = (run / "checkpoint.key").read_bytes()
    entries = sorted(p.name for p in (stack_dir / "runs").iterdir())
    latest = (stack_dir / "latest").readlink()

    collector = held_stack.printed_after("collector").rsplit(":", 1)[1]
    env = {**os.environ, "DRIFTLINE_STATE_DIR": str(held_stack.state_dir), "DRIFTLINE_COLLECTOR__PORT": collector,
           # The running stack's Kafka, so the collector's port is the first one checked.
           "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": bootstrap}  # fmt: skip
    began = time.monotonic()
    second = subprocess.run(
        [sys.executable, "-m", "driftline.cli", "stack", "--no-hold", "-c", str(CONFIG)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert second.returncode == 2, second.stdout + second.stderr
    assert second.stderr.strip() == f"error: collector: port {collector} is already in use by another program"
    assert second.stdout == "" and time.monotonic() - began < 30

    assert sorted(p.name for p in (stack_dir / "runs").iterdir()) == entries
    assert (stack_dir / "latest").readlink() == latest
    lake_now, checkpoints_now = files_under(run / "lake"), checkpoint_logs(run)
    assert {name: lake_now.get(name) for name in lake} == lake  # the archiver may have added files, not lost any
    assert (run / "checkpoint.key").read_bytes() == key
    # Kafka appends: a checkpoint the trainer stored meanwhile may follow, nothing before it changes.
    assert all(checkpoints_now.get(name, b"").startswith(data) for name, data in checkpoints.items())


def test_each_process_was_started_once_and_is_alive_until_the_stop(stack_run: dict[str, Any]) -> None:
    local: LocalStack = stack_run["local"]
    assert len(local.processes) == 7 and all(p.running for p in local.processes)
    assert local.start() is local and len(local.processes) == 7  # a second start starts nothing
    logs = [*local.state.rglob("*.log")]
    assert logs and not [log for log in logs if "address already in use" in log.read_text(errors="replace").lower()]
    # Quiet by default: no line per HTTP request, though the simulator posted thousands.
    assert not [log for log in logs if 'HTTP/1.1" 20' in log.read_text(errors="replace")]


def test_the_archiver_fills_the_lake_for_export(stack_run: dict[str, Any], tmp_path: Path) -> None:
    import subprocess
    import sys

    import pandas as pd

    local: LocalStack = stack_run["local"]
    archiver = next(p for p in local.processes if getattr(p, "name", "") == "archiver")
    archiver.stop()  # SIGTERM: it writes what it holds before it exits
    total = 0
    for stream in ("rooms", "machines"):
        done = subprocess.run(
            [str(Path(sys.executable).with_name("driftline")), "export", "--stream", stream, "-c", str(CONFIG),
             "--lake", str(local.lake), "--out", str(tmp_path), "--format", "csv"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        total += sum(len(pd.read_csv(tmp_path / f"{stream}-{part}.csv")) for part in ("train", "validation", "test"))
    assert 0.95 * 2 * EVENTS <= total <= 2 * EVENTS  # every distinct event (a few may be faults, dead-lettered)


def test_the_local_kafka_has_a_fixed_port_unless_one_is_configured() -> None:
    from driftline.config import settings_from_dict
    from driftline.stack import KAFKA_PORT

    assert StackPorts.of(settings_from_dict({}), free=False).kafka == KAFKA_PORT == 9092
    assert StackPorts.of(settings_from_dict({"kafka": {"bootstrap_servers": "k:9092"}}), free=False).kafka is None


def test_a_taken_kafka_port_fails_the_stack_at_once_in_one_line(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from driftline.stack import KAFKA_PORT

    with socket.socket() as foreign:
        try:
            foreign.bind(("127.0.0.1", KAFKA_PORT))
            foreign.listen()
        except OSError:
            pass  # held already by another program: the stack must refuse it all the same
        env = {**os.environ, "DRIFTLINE_STATE_DIR": str(tmp_path)}
        env.pop("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", None)
        result = subprocess.run(
            [sys.executable, "-m", "driftline.cli", "stack", "--no-hold", "-c", str(CONFIG)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"error: kafka: port {KAFKA_PORT} is already in use by another program"
