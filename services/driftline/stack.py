"""``driftline stack``: the whole pipeline on one machine, with simulated sensors.

Kafka (started here on port 9092 when none is configured), Mosquitto, the collector (HTTP + MQTT
bridge), the trainer, the monitor and an archiver (events into a Parquet lake) as their own
processes, Prometheus scraping them and Alertmanager calling the monitor's webhook. The simulator
then posts its fleet's events and late labels to the collector over HTTP, with per-device tokens
minted for this run. One more device is the user's own (:data:`USER_DEVICE`): its credentials go to
a file only the user can read (:func:`write_device_file`), for sending events by hand over HTTP
(curl) or MQTT (mosquitto_pub), as the README shows.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from driftline.cli_options import ConfigOption
from driftline.collector.simulator.schedule import MIN_EVENTS
from driftline.config.settings import Settings
from driftline.processes import ManagedProcess, free_port, http_ok, refuse_taken_port, wait_until
from driftline.rules import metric_names as names

log = logging.getLogger(__name__)

SCENARIOS = ("rooms", "machines")
#: The local broker's client port when none is configured: fixed, so `reset --bootstrap`, `archive`
#: and other commands can find it while the stack runs.
KAFKA_PORT = 9092
#: The trainer's `align_labels_s` in the stack (unless configured): events and labels are handled in
#: the order of their time, so the same seed gives the same models, resets and drift report.
STACK_ALIGN_LABELS_S = 10.0
#: The device the stack provisions for the user, on stream :data:`USER_STREAM` (the README's commands send as it).
USER_DEVICE = "my-sensor"
USER_STREAM = "rooms"
#: Its credentials' file in the run's folder: shell variables, for ``. <file>`` before curl or mosquitto_pub.
DEVICE_FILE = "device.env"


@dataclass
class StackPorts:
    """Where each part listens on 127.0.0.1."""

    collector: int
    trainer: int
    monitor: int
    prometheus: int
    alertmanager: int
    mqtt: int
    #: The local broker's; None with a configured Kafka, which the stack does not start.
    kafka: int | None = None

    def check_free(self) -> None:
        """Refuse at once a port another program holds: it, not ours, would answer there."""
        programs = {"mqtt": "mosquitto"}
        ports = vars(self)
        for name in sorted(ports, key=lambda name: name != "kafka"):  # in starting order: Kafka first
            if (port := ports[name]) is not None:
                refuse_taken_port(programs.get(name, name), port)

    @classmethod
    def of(cls, settings: Settings, free: bool) -> StackPorts:
        kafka = None if settings.kafka.bootstrap_servers else KAFKA_PORT
        if free:
            return cls(*(free_port() for _ in range(6)), kafka=kafka and free_port())
        return cls(
            settings.collector.port,
            settings.trainer.port,
            settings.monitor.port,
            9090,
            9093,
            settings.collector.mqtt.port,
            kafka,
        )


class StackRuns:
    """The stack's folder (``state_dir/stack``): one folder per run under ``runs/``, ``latest`` linking the newest.

    A run's folder holds everything the run writes (its Kafka's data and checkpoints, the lake, the
    signing key, logs); nothing of an earlier run is removed unless :meth:`remove_earlier` is asked to.
    A running stack holds a lock on its run's folder, so no other start removes it.
    """

    LOCK = ".running"

    def __init__(self, root: Path):
        self.root = root
        self.runs = root / "runs"
        self.latest = root / "latest"
        self._held: dict[Path, int] = {}

    def listed(self) -> list[Path]:
        """Every run's folder, oldest first (their names start with the time of their start)."""
        if not self.runs.is_dir():
            return []
        return sorted(p for p in self.runs.iterdir() if p.is_dir() and not p.name.startswith("."))

    def legacy(self) -> list[Path]:
        """What a stack from before ``runs/`` left in the folder itself: its lake, logs, key and the rest."""
        if not self.root.is_dir():
            return []
        return sorted(
            p for p in self.root.iterdir() if p not in (self.runs, self.latest) and not p.name.startswith(".")
        )

    def start(self, seed: int) -> Path:
        """A new run's folder, locked for as long as this process lives (or :meth:`release`), and linked as latest."""
        import fcntl
        from datetime import datetime

        self.runs.mkdir(parents=True, exist_ok=True)
        # Made and locked under a name no listing shows, then renamed: no other start sees it unlocked.
        starting = self.runs / f".starting-{os.getpid()}"
        shutil.rmtree(starting, ignore_errors=True)  # left by a start of this process id that died there
        starting.mkdir()
        fd = os.open(starting / self.LOCK, os.O_CREAT | os.O_WRONLY, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        stem = f"{datetime.now():%Y%m%dT%H%M%S}-seed{seed}"
        for n in range(1, 100):
            run = self.runs / (stem if n == 1 else f"{stem}-{n}")
            if run.exists():  # another start in the same second
                continue
            try:
                starting.rename(run)  # refused onto another run's folder, which is never empty
                break
            except OSError:
                continue
        else:
            os.close(fd)
            raise FileExistsError(f"{self.runs}: no free name for a run started at {stem}")
        self._held[run] = fd
        link = self.root / f".latest-{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(run.relative_to(self.root))
        link.replace(self.latest)  # at once: `latest` never goes missing
        return run

    @contextmanager
    def held(self, run: Path) -> Iterator[Path]:
        """``run`` (from :meth:`start`), released on exit."""
        try:
            yield run
        finally:
            self.release(run)

    def release(self, run: Path) -> None:
        if (fd := self._held.pop(run, None)) is not None:
            os.close(fd)

    def running(self, run: Path) -> bool:
        """Whether a stack (this process or another) runs on ``run``'s folder now."""
        import fcntl

        if run in self._held:
            return True
        try:
            fd = os.open(run / self.LOCK, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def remove_earlier(self, keep: int, current: Path | None = None) -> tuple[list[Path], list[Path]]:
        """Remove the runs before the ``keep`` newest earlier ones (the layout from before ``runs/`` counts as the
        oldest run); a run a stack still runs on stays. Returns (removed, kept because running)."""
        earlier = [run for run in reversed(self.listed()) if run != current]
        legacy = self.legacy()
        doomed: list[Path | None] = [*earlier, *([None] if legacy else [])][keep:]  # None: the legacy run
        removed, running = [], []
        for run in doomed:
            if run is None:
                for path in legacy:
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                removed.extend(legacy)
            elif self.running(run):
                running.append(run)
            else:
                shutil.rmtree(run)
                removed.append(run)
        return removed, running


def device_tokens(scenarios: tuple[str, ...], devices: int) -> dict[str, str]:
    """A fresh token for every simulated device (the simulator names them ``<scenario>-NNN``)."""
    return {f"{name}-{i:03d}": secrets.token_urlsafe(24) for name in scenarios for i in range(devices)}


def write_device_file(path: Path, device: str, token: str, collector: str, mqtt_port: int, topic_prefix: str) -> Path:
    """Write the user's device's credentials to ``path``, readable and writable by its owner only (0600).

    Shell assignments (``. path`` sets them without exporting any): the token is both the bearer
    token of the collector's HTTP ingest and the device's MQTT password, its id the MQTT username.
    """
    lines = {
        "DEVICE_ID": device,
        "DEVICE_TOKEN": token,
        "COLLECTOR_URL": collector,
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(mqtt_port),
        "MQTT_TOPIC": f"{topic_prefix}/{USER_STREAM}/{device}",
    }
    text = "# Your own device on this run of `driftline stack` (README: 'Your own device'). Keep it secret.\n"
    text += "".join(f"{name}='{value}'\n" for name, value in lines.items())
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not for a moment
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(text)
    return path


@dataclass
class LocalStack:
    """Start with :meth:`start`, stop with :meth:`stop`; every process logs under ``state/logs``."""

    settings: Settings
    bootstrap: str
    state: Path
    ports: StackPorts
    tokens: dict[str, str]
    scrape_interval: str = "5s"
    #: Devices that also publish over MQTT: their Mosquitto username (the device id) and password.
    mqtt_devices: dict[str, str] = field(default_factory=dict)
    config: Path | None = None
    #: A line per HTTP request in the collector's, trainer's and monitor's logs.
    access_log: bool = False
    processes: list[Any] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{getattr(self.ports, service)}"

    def _env(self, mqtt_password: str) -> dict[str, str]:
        from driftline.collector.auth import hash_token

        devices = {device: {"token_sha256": hash_token(token)} for device, token in self.tokens.items()}
        return {
            **os.environ,
            "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "DRIFTLINE_STATE_DIR": str(self.state),
            "DRIFTLINE_COLLECTOR__PORT": str(self.ports.collector),
            "DRIFTLINE_TRAINER__PORT": str(self.ports.trainer),
            "DRIFTLINE_MONITOR__PORT": str(self.ports.monitor),
            "DRIFTLINE_COLLECTOR__MQTT__ENABLED": "true",
            "DRIFTLINE_COLLECTOR__MQTT__PORT": str(self.ports.mqtt),
            "DRIFTLINE_COLLECTOR__MQTT__PASSWORD": mqtt_password,
            "DRIFTLINE_DEVICES": json.dumps(devices),
            "DRIFTLINE_TOPICS": self.settings.topics.model_dump_json(),
            "DRIFTLINE_TRAINER__GROUP_ID": self.settings.trainer.group_id,
            "DRIFTLINE_MONITOR__GROUP_ID": self.settings.monitor.group_id,
            "DRIFTLINE_TRAINER__ALIGN_LABELS_S": str(self.settings.trainer.align_labels_s or STACK_ALIGN_LABELS_S),
            **{
                f"DRIFTLINE_{service}__ACCESS_LOG": "true"
                for service in ("COLLECTOR", "TRAINER", "MONITOR")
                if self.access_log
            },
        }

    def _service(self, name: str, env: dict[str, str], config: Path | None) -> ManagedProcess:
        argv = [sys.executable, "-m", "driftline.cli", name, *(["--config", str(config)] if config else [])]
        url = self.url(name)
        return ManagedProcess(
            name, argv, self.state / "logs" / f"{name}.log", lambda: http_ok(f"{url}/metrics"), env=env,
            port=getattr(self.ports, name),
        )  # fmt: skip

    @property
    def lake(self) -> Path:
        """Where the stack's archiver writes the events, for `driftline export --lake`."""
        return self.state / "lake"

    def _archiver(self, env: dict[str, str], config: Path | None) -> ManagedProcess:
        argv = [sys.executable, "-m", "driftline.cli", "archive", "--lake", str(self.lake),
                *(["--config", str(config)] if config else [])]  # fmt: skip
        log_file = self.state / "logs" / "archiver.log"

        def archiving() -> bool:  # no port to ask: its first line says it found Kafka and consumes
            return log_file.exists() and "archiving " in log_file.read_text(errors="replace")

        return ManagedProcess("archiver", argv, log_file, archiving, env=env)

    def start(self) -> LocalStack:
        """Start every process once; a started stack is returned as it is."""
        if self.processes:
            return self
        from driftline.httpserver import configured_token
        from driftline.ops.alertmanager import alertmanager_process
        from driftline.ops.mosquitto import Mosquitto
        from driftline.ops.prometheus import ScrapeTargets, prometheus_process

        m = self.settings.monitor
        if configured := configured_token(m.webhook_token, m.webhook_token_file, "monitor.webhook_token"):
            # A configured token is not written anywhere by the monitor; Alertmanager reads a file.
            token_file = self.state / "monitor" / "webhook_token"
            token_file.parent.mkdir(parents=True, exist_ok=True)
            token_file.touch(mode=0o600)
            token_file.write_text(configured)
        config = self.config
        mqtt_password = secrets.token_urlsafe(16)
        env = self._env(mqtt_password)
        mqtt = self.settings.collector.mqtt
        steps: list[tuple[str, Any]] = [
            ("mosquitto", lambda: Mosquitto(self.state / "mosquitto",
                                            {**self.mqtt_devices, mqtt.username: mqtt_password}, mqtt.username,
                                            mqtt.topic_prefix, self.ports.mqtt)),
            ("monitor", lambda: self._service("monitor", env, config)),
            ("trainer", lambda: self._service("trainer", env, config)),
            ("collector", lambda: self._service("collector", env, config)),
            ("archiver", lambda: self._archiver(env, config)),
            ("prometheus", lambda: prometheus_process(
                self.state / "prometheus",
                ScrapeTargets(*(f"127.0.0.1:{p}" for p in (self.ports.monitor, self.ports.trainer,
                                                          self.ports.collector, self.ports.alertmanager))),
                self.ports.prometheus, self.scrape_interval)),
            ("alertmanager", lambda: alertmanager_process(
                self.state / "alertmanager", f"{self.url('monitor')}/alerts",
                self.state / "monitor" / "webhook_token", self.ports.alertmanager, "5s", "30s")),
        ]  # fmt: skip
        try:
            for name, make in steps:
                log.info("starting %s", name)
                self.processes.append(make().start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        while self.processes:
            self.processes.pop().stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant PromQL query against the stack's Prometheus."""
        url = f"{self.url('prometheus')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)["data"]["result"]


SUMMARY_QUERIES = {
    "predicted": f"sum by (stream) ({names.PREDICTIONS})",
    "labelled": f'sum by (stream) ({names.LABELS}{{estimate="prequential"}})',
    "accuracy": f'avg by (stream) ({names.ACCURACY}{{estimate="prequential", window="cumulative"}})',
    "holdout accuracy": f'avg by (stream) ({names.ACCURACY}{{estimate="holdout", window="cumulative"}})',
    "concept drifts": f'sum by (stream) ({names.DRIFT_DETECTED}{{kind="concept"}})',
    "data drifts": f'sum by (stream) ({names.DRIFT_DETECTED}{{kind="data"}})',
    # A drift's reset is the trainer's own reaction; people's resets arrive as commands.
    "resets (per model key)": f'sum by (stream) ({names.TRAINER_DRIFT_REACTIONS}{{action=~"warm|cold|rollback"}} '
    f'or {names.TRAINER_COMMANDS}{{action=~"reset|rollback", status="applied"}})',
}


def summary(stack: LocalStack) -> dict[str, dict[str, float]]:
    """Per stream, what the monitor reports now (read back from Prometheus)."""
    table: dict[str, dict[str, float]] = {}
    for column, promql in SUMMARY_QUERIES.items():
        for sample in stack.query(promql):
            table.setdefault(sample["metric"].get("stream", "?"), {})[column] = float(sample["value"][1])
    return table


def read_run(settings: Settings, bootstrap: str) -> tuple[list[Any], list[Any]]:
    """The run's outcomes and drift events, read back from Kafka."""
    from driftline.contracts import DriftEvent, Outcome
    from driftline.drift_plot import read_messages

    topics = settings.topics
    outcomes = read_messages(bootstrap, topics.outcomes.name, topics.outcomes.partitions, Outcome)
    drifts = read_messages(bootstrap, topics.drift.name, topics.drift.partitions, DriftEvent)
    return outcomes, drifts


def draw_run(settings: Settings, bootstrap: str, truth: list[dict[str, Any]], path: Path, report: Any = None) -> Path:
    """Draw the run's rolling accuracy with the true and the detected drifts (scored, given the run's report)."""
    from driftline.drift_plot import plot_run

    return plot_run(*read_run(settings, bootstrap), truth, path, settings.monitor.window, report)


def report_run(
    settings: Settings, bootstrap: str, truth: list[dict[str, Any]], faults: list[dict[str, Any]] | None = None
) -> Any:
    """Score every true drift of the run (the accuracy change at it, detection, delays, reset, accuracy around the
    reset), the false concept alarms, and every data drift against the true drifts and ``faults``."""
    from driftline.drift_report import score_run

    return score_run(*read_run(settings, bootstrap), truth, faults)


def _cell(column: str, value: float | None) -> str:
    if "acc" in column:
        return "-" if value is None else f"{value:.3f}"
    return f"{value or 0:.0f}"  # a counter Prometheus has no series of has counted nothing yet


def wait_until_drained(stack: LocalStack, timeout: float) -> bool:
    """Wait until the trainer has handled every event and label sent, the monitor every outcome, and
    Prometheus has scraped the monitor's final count; False if ``timeout`` ran out first."""
    from driftline.httpserver import exposed_total
    from driftline.kafkaio.lags import GroupLags

    topics = stack.settings.topics
    lags = GroupLags(
        stack.bootstrap,
        {stack.settings.trainer.group_id: [topics.events, topics.labels],
         stack.settings.monitor.group_id: [topics.outcomes]},
        {topics.outcomes.name},  # the trainer's transactions
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        if wait_until(lags.caught_up, timeout, 1.0) is None:
            return False
    finally:
        lags.close()

    def scraped() -> bool:
        with urllib.request.urlopen(f"{stack.url('monitor')}/metrics", timeout=10) as response:
            counted = exposed_total(response.read().decode(), names.PREDICTIONS)
        result = stack.query(f"sum({names.PREDICTIONS})")
        return bool(result) and float(result[0]["value"][1]) == counted

    return wait_until(scraped, max(deadline - time.monotonic(), 30.0), 1.0) is not None


def register(app: typer.Typer) -> None:
    @app.command()
    def stack(
        config: ConfigOption = None,
        events: Annotated[int, typer.Option(min=MIN_EVENTS, help="Events per scenario (rooms, machines).")] = 20_000,
        devices: Annotated[int, typer.Option(min=1, help="Simulated sensors per scenario.")] = 4,
        rate: Annotated[
            float | None, typer.Option(min=0.001, help="Events per second; default: as fast as possible.")
        ] = None,
        seed: Annotated[int, typer.Option(help="Same seed, same simulated run.")] = 0,
        hold: Annotated[bool, typer.Option("--hold/--no-hold", help="Keep the stack up after the run.")] = True,
        free_ports: Annotated[
            bool, typer.Option("--free-ports", help="Pick free ports instead of the defaults.")
        ] = False,
        access_log: Annotated[
            bool, typer.Option("--access-log", help="Log every HTTP request (collector, trainer, monitor).")
        ] = False,
        keep: Annotated[
            int | None,
            typer.Option(min=0, help="Remove earlier runs' folders but the N newest (default: remove none)."),
        ] = None,
        clean: Annotated[bool, typer.Option("--clean", help="Remove every earlier run's folder (--keep 0).")] = False,
    ) -> None:
        """Run the local stack: Kafka, collector, trainer, monitor, Mosquitto, Prometheus, Alertmanager
        and a simulated fleet with scheduled drift; print what the monitor saw.

        Each run keeps its state (Kafka's data and checkpoints, the lake, logs, the picture) in a folder
        of its own, state_dir/stack/runs/<time>-seed<seed>, linked as state_dir/stack/latest; earlier
        runs stay unless --keep or --clean says otherwise.
        """
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from driftline.collector.simulator import SimOptions
        from driftline.collector.simulator.run import build_simulations, run_simulation
        from driftline.config import load_settings
        from driftline.kafkaio.broker import kafka_or_local
        from driftline.runtime import stop_on_signals
        from driftline.status.fetching import Sources
        from driftline.status.live import live_view

        console = Console()

        def say(line: str) -> None:  # a path on a line of its own, unwrapped, for a user to copy
            console.print(line, soft_wrap=True, markup=False, highlight=False)

        settings = load_settings(config)
        options = SimOptions(devices=devices, events=events, seed=seed)
        build_simulations(settings, SCENARIOS, options)  # a run that cannot be simulated fails before Kafka starts
        if clean and keep is not None:
            raise typer.BadParameter("pass --clean or --keep, not both", param_hint="--clean")
        tokens = device_tokens(SCENARIOS, devices)
        mine = {USER_DEVICE: secrets.token_urlsafe(24)}
        ports = StackPorts.of(settings, free_ports)
        # Before any file is touched or Kafka starts: a clash (another stack, say) fails in a moment and harms nothing.
        ports.check_free()
        if settings.kafka.bootstrap_servers:  # a configured Kafka the stack does not start: it must be there
            from driftline.kafkaio.clients import require_reachable

            require_reachable(settings.kafka.bootstrap_servers)
        runs = StackRuns(Path(settings.state_dir) / "stack")
        state = runs.start(seed)
        say(f"this run's state: {state} (linked as {runs.latest})")
        if clean or keep is not None:
            removed, running = runs.remove_earlier(0 if clean else keep or 0, current=state)
            for path in removed:
                say(f"removed {path}")
            for path in running:
                say(f"kept {path}: a stack is running on it")
            if not removed and not running:
                say("no earlier run to remove")
        elif earlier := len(runs.listed()) - 1 + bool(runs.legacy()):
            say(f"{earlier} earlier run(s) kept under {runs.root} (--keep N or --clean removes them)")
        # The run's own Kafka keeps its data (and the trainer's checkpoints) in the run's folder too.
        settings = settings.model_copy(update={"state_dir": state})
        with runs.held(state), kafka_or_local(settings, port=ports.kafka) as bootstrap:
            console.print(f"Kafka on {bootstrap}; starting the services (logs in {state / 'logs'}) ...")
            with LocalStack(settings, bootstrap, state, ports, tokens | mine, config=config, access_log=access_log,
                            mqtt_devices=mine) as local:  # fmt: skip
                for name in ("collector", "trainer", "monitor", "prometheus", "alertmanager"):
                    console.print(f"  {name:<12} {local.url(name)}")
                ((device, token),) = mine.items()
                where = write_device_file(state / DEVICE_FILE, device, token, local.url("collector"), ports.mqtt,
                                          settings.collector.mqtt.topic_prefix)  # fmt: skip
                say(f"your own device: {where} (its credentials, for you only: README, 'Your own device')")
                columns = (TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
                bar = Progress(*columns, console=console)
                # The services' per-stream view under the bar, redrawn each second until they caught up.
                urls = {name: local.url(name) for name in ("trainer", "monitor", "collector")}
                with live_view(Sources.of(settings, **urls), console, bar):
                    task = bar.add_task("simulate", total=None)
                    report = run_simulation(
                        settings, scenarios=SCENARIOS, options=options, rate=rate,
                        collector_url=local.url("collector"), tokens=tokens, out_dir=state / "simulation",
                        progress=lambda n: bar.update(task, advance=n),
                    )  # fmt: skip
                    console.print(str(report))
                    console.print("waiting for the trainer and the monitor to handle everything sent ...")
                    drained = wait_until_drained(local, timeout=max(120.0, report.events / 200))
                if not drained:
                    console.print("[red]the trainer or the monitor did not catch up in time: the report is partial")
                written = json.loads(report.truth_file.read_text()) if report.truth_file else {}
                truth, faults = written.get("drift_points", []), written.get("faults", [])
                # One column per stream keeps the table narrow enough for any terminal.
                by_stream = dict(sorted(summary(local).items()))
                table = Table("", *by_stream, title="what the monitor reports")
                for column in SUMMARY_QUERIES:
                    table.add_row(column, *(_cell(column, values.get(column)) for values in by_stream.values()))
                table.add_row("true drifts", *(str(sum(p["stream"] == s for p in truth)) for s in by_stream))
                console.print(table)
                drift_report = report_run(settings, bootstrap, truth, faults)
                console.print(drift_report.table())
                for line in drift_report.summary():
                    say(line)
                picture = draw_run(settings, bootstrap, truth, state / "drift.png", drift_report)
                console.print(f"true drift points: {report.truth_file}; Prometheus: {local.url('prometheus')}")
                console.print(f"accuracy, true and detected drifts over event time: {picture}")
                console.print(f"the events are archived in {local.lake} (complete once the stack stops): "
                              f"`driftline export --stream rooms --lake {local.lake}`")  # fmt: skip
                if hold:
                    console.print("the stack keeps running; Ctrl-C stops it")
                    stop_on_signals().wait()
