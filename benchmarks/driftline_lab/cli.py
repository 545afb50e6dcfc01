"""`driftline bench throughput|latency|hotpath|monitor|scale|drift|recall|replay|data-drift|soak|faults|chaos|
fuzz|labels|tuning`: the benchmark suites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from driftline.cli_options import output_folder

#: Where a broker-bound benchmark runs: a Kafka of the user's, or a local broker of the run's own.
KafkaOption = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        help="Kafka to run on, host:port[,host:port]; the run makes topics and groups of its own there "
        "(default: a local broker started for the run).",
    ),
]

bench_app = typer.Typer(help="Benchmarks, side by side on one local broker (or `--bootstrap`).", no_args_is_help=True)


@bench_app.command("throughput")
def throughput(
    events: Annotated[int, typer.Option(min=100, help="Events per case.")] = 20_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; contenders alternate their order.")] = 3,
    preset: Annotated[
        list[str] | None, typer.Option(help="Model presets (repeat). Default: logistic, hoeffding.")
    ] = None,
    keys: Annotated[list[int] | None, typer.Option(help="Model keys per case (repeat). Default: 1, 100.")] = None,
    peer: Annotated[bool, typer.Option("--peer/--no-peer", help="Include the Quix Streams peer.")] = True,
    ingest: Annotated[
        bool, typer.Option("--ingest/--no-ingest", help="Include the collector's ingest benchmark (HTTP, MQTT).")
    ] = True,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="A smoke run: 500 events, one round, logistic, 1 key, short extras, no ingest."),
    ] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of throughput.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
    bootstrap: KafkaOption = None,
) -> None:
    """Bare River, the trainer end to end (exactly-once on and off) and a Quix Streams + River peer,
    on the same events and broker; events/s and per CPU-second, ratios, identical predictions.
    Then latency at half load, 1-3 trainer instances, 10,000 model keys, and collector ingest."""
    from driftline.modelspec import ModelSpecError, check_model_expression
    from driftline_lab.suite import Plan, run

    for spec in preset or []:
        try:
            check_model_expression(spec)
        except ModelSpecError as e:
            raise typer.BadParameter(str(e), param_hint="--preset") from None
    plan = Plan.quick(peer) if quick else Plan(events, rounds, preset or Plan().presets, keys or Plan().keys, peer)
    plan.ingest = plan.ingest and ingest
    plan.bootstrap = bootstrap
    _report_with_progress("benchmark runs", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("latency")
def latency(
    interval: Annotated[
        list[float] | None,
        typer.Option(min=0.001, help="trainer.commit_interval_s values (repeat). Default: 0.05, 0.1, 0.25, 0.5, 1."),
    ] = None,
    guarantee: Annotated[
        list[str] | None, typer.Option(help="exactly-once and/or at-least-once (repeat). Default: both.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=1, help="Paced events/s; default: half the slowest configuration's maximum.")
    ] = None,
    seconds: Annotated[float, typer.Option(min=1, help="Seconds per paced run.")] = 35.0,
    events: Annotated[int, typer.Option(min=100, help="Events per maximum-throughput run.")] = 20_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of each measurement; configurations alternate.")] = 2,
    keys: Annotated[int, typer.Option(min=1, help="Model keys.")] = 100,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: interval 0.1, 1,000 events, one round, 3 s paced.")
    ] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of latency.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
    bootstrap: KafkaOption = None,
) -> None:
    """The trainer at each commit interval, exactly-once and at-least-once: its maximum events/s, and its
    latency (p50/p99/max, event sent to outcome read back and to its append on the broker) at one paced rate."""
    from driftline_lab.latency import GUARANTEES, Plan, run

    unknown = set(guarantee or []) - set(GUARANTEES)
    if unknown:
        raise typer.BadParameter(f"{', '.join(sorted(unknown))}: not one of {', '.join(GUARANTEES)}")
    plan = Plan.quick() if quick else Plan(events=events, rounds=rounds, keys=keys, seconds=seconds)
    plan.intervals = interval or plan.intervals
    plan.guarantees = guarantee or plan.guarantees
    plan.rate = rate
    plan.bootstrap = bootstrap
    _report_with_progress("benchmark runs", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("hotpath")
def hotpath(
    events: Annotated[int, typer.Option(min=100, help="Events per case.")] = 20_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; the parts alternate their order.")] = 5,
    keys: Annotated[list[int] | None, typer.Option(help="Model keys per case (repeat). Default: 1, 100.")] = None,
    preset: Annotated[str, typer.Option(help="The stream's model preset.")] = "logistic",
    quick: Annotated[bool, typer.Option("--quick", help="A smoke run: 2,000 events, one round, 1 key.")] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of hotpath.md.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """The trainer's per-event work part by part (decode, dedupe, cleaning, models, judges, metrics, outcome,
    produce) beside the whole record and bare River, CPU µs per event. In process, no Kafka."""
    from driftline.modelspec import ModelSpecError, check_model_expression
    from driftline_lab.hotpath import Plan, run

    try:
        check_model_expression(preset)
    except ModelSpecError as e:
        raise typer.BadParameter(str(e), param_hint="--preset") from None

    plan = Plan.quick() if quick else Plan(events, keys or Plan().keys, rounds, preset)
    _report_with_progress("timed runs", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("drift")
def drift(
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run (under a minute): 1 seed, Agrawal and STAGGER, short streams.")
    ] = False,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds per generator (default 3; quick 1).")] = None,
    first_seed: Annotated[
        int | None, typer.Option(min=0, help="First seed (default 1000: held out; seeds 0-9 tuned the defaults).")
    ] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: one per core).")] = None,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of drift.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """Concept-drift detection by kind of change (abrupt, gradual, incremental, recurring) and false alarms on
    young and grown models (River synth streams), detector families, recovery under warm and cold resets, a
    warm-up / debounce sweep, and data drift on River's annotated Occupancy series. In process, no Kafka."""
    from driftline_lab.drift import Plan, run

    plan = Plan.quick() if quick else Plan()
    if seeds is not None:
        plan.seeds = seeds
    if first_seed is not None:
        plan.first_seed = first_seed
    if jobs is not None:
        plan.jobs = jobs
    _report_with_progress("drift streams", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("recall")
def recall(
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run (seconds): 1 seed of STAGGER, 3 short segments, no ARF.")
    ] = False,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds per generator (default 5; quick 1).")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: 2 at most).")] = None,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of recall.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """Recurring concepts (SEA, Agrawal, STAGGER switching A -> B -> A...): recall from a model key's library against
    cold and warm resets and River's ARF, over the 1,000 labels after each recurrence. In process, no Kafka."""
    from driftline_lab.recall import Plan, run

    plan = Plan.quick() if quick else Plan()
    if seeds is not None:
        plan.seeds = seeds
    if jobs is not None:
        plan.jobs = jobs
    _report_with_progress("recurring streams", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("replay")
def replay(
    drift: Annotated[
        list[str] | None,
        typer.Option(
            "--drift",
            help="KEY=VALUE set in every stream's drift section (repeat; VALUE as JSON), e.g. concept=CUSUM, "
            'warmup=200, concept_params={"run_length": 100000}.',
        ),
    ] = None,
    events: Annotated[int, typer.Option(min=1000, help="Events per scenario, as `driftline stack --events`.")] = 20_000,
    seed: Annotated[int, typer.Option(help="The simulator's seed, as `driftline stack --seed`.")] = 0,
    config: Annotated[Path, typer.Option(help="Config file; its streams rooms and machines are replayed.")] = Path(
        "config/driftline.toml"
    ),
) -> None:
    """The stack's simulated run replayed in process through the trainer's core, no Kafka, and its drift report:
    a drift judge tried on the stack's scenarios in seconds instead of a stack run."""
    import json

    from rich.console import Console
    from rich.progress import Progress

    from driftline.config import ConfigError, load_settings
    from driftline_lab.replay import Plan
    from driftline_lab.replay import replay as run_replay

    update = {}
    for item in drift or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--drift")
        try:
            update[key] = json.loads(value)
        except json.JSONDecodeError:
            update[key] = value  # a bare word: a detector's or a policy's name
    try:
        settings = load_settings(config)
        plan = Plan(events=events, seed=seed, drift=update)
        console = Console()
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("replaying", total=None)
            report = run_replay(settings, plan, lambda n: bar.advance(task, n))
    except (ConfigError, ValueError) as e:
        raise typer.BadParameter(str(e).splitlines()[0], param_hint="--drift") from None
    console.print(report.table())
    for line in report.summary():
        console.print(line)


@bench_app.command("data-drift")
def data_drift(
    quick: Annotated[bool, typer.Option("--quick", help="A smoke run (seconds): short streams, few trials.")] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of datadrift.md and .json.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """The data-drift judge, CUSUM (the default) beside ADWIN: false alarms on stationary features (long-lived
    and young), delays after shifts of the mean, River's Occupancy series, and one key's memory and cost.
    In process, no Kafka."""
    from driftline_lab.datadrift import Plan, run

    plan = Plan.quick() if quick else Plan()
    _report_with_progress("data-drift steps", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("soak")
def soak(
    minutes: Annotated[float, typer.Option(min=0.1, help="The run at the soak rate, its warm-up included.")] = 10.0,
    rate: Annotated[
        float | None, typer.Option(min=1, help="Events/s; default: half the trainer's capacity measured first.")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run (under a minute): a small burst, 15 s, samples every second.")
    ] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of soak.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """The collector, trainer, monitor and archiver as processes, the simulated fleet posting over HTTP at half
    the trainer's measured capacity for minutes; every service's RSS and CPU sampled, the trend judged (flat
    within 10%), and whether they kept up, accounted for every event and stayed alive."""
    from driftline_lab.soak import Plan, run

    plan = Plan.quick() if quick else Plan(minutes=minutes)
    plan.rate = rate
    _report_with_progress("soak seconds", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("faults")
def faults(
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of faults.md and .json.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """Kafka faults under load: the broker stopped for 20 s, then a three-node cluster losing the node that
    coordinates the trainer's group; events acknowledged, outcomes missing or duplicated, the monitor's count,
    the lake, loop restarts, time to the first outcome after the fault."""
    import tempfile

    from driftline_lab.faults import suite

    with tempfile.TemporaryDirectory(prefix="driftline-faults-") as folder:
        _report_with_progress("faults", lambda say, progress: suite(Path(folder), out, _command(), say, progress))


@bench_app.command("chaos")
def chaos(
    minutes: Annotated[
        float, typer.Option(min=0.1, max=1440, help="Minutes of faults (the fleet posts throughout).")
    ] = 20.0,
    seed: Annotated[int, typer.Option(help="Seed of the nemesis's schedule: the same seed, the same faults.")] = 0,
    quick: Annotated[
        bool, typer.Option("--quick", help="The CI run: 1.5 minutes of faults, one every 5-9 s, short pauses.")
    ] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of chaos.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """The pipeline as processes (3 Kafka nodes, 2 trainers, 2 monitors, the collector and its MQTT bridge,
    Mosquitto, the archiver) under a seeded nemesis killing a process or a Kafka node, or stopping Mosquitto,
    while devices post over HTTP and MQTT; then every acknowledged event checked for exactly one outcome, the
    monitors' count and the lake, nothing refused downstream, the services alive and healthy, memory flat, and
    the final predictions against an uninterrupted trainer run."""
    from driftline_lab.chaos import Plan, bench

    plan = Plan.quick(seed) if quick else Plan(minutes=minutes, seed=seed)
    _report_with_progress("chaos seconds", lambda say, progress: bench(plan, out, _command(), say, progress))


@bench_app.command("fuzz")
def fuzz(
    payloads: Annotated[int, typer.Option(min=10, help="Malformed payloads to send.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated payloads.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="A smoke run: 400 payloads, as the CI test.")] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of fuzz.md and .json.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """Malformed payloads (schemathesis from /openapi.json, and the contracts' Hypothesis strategies) over HTTP
    and MQTT, interleaved with valid events, against the collector, its MQTT bridge and the trainer on a local
    broker: 4xx and a dead letter per bad item, no 5xx, everyone up, one outcome per valid event."""
    from driftline_lab.fuzz import Plan, bench

    plan = Plan.quick() if quick else Plan(payloads=payloads)
    plan.seed = seed
    _report_with_progress("payloads sent", lambda say, progress: bench(plan, out, _command(), say, progress))


@bench_app.command("labels")
def labels(
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run (seconds): 1 seed, Phishing and SEA, 2 budgets, logistic.")
    ] = False,
    seeds: Annotated[int | None, typer.Option(min=1, help="Seeds per generated stream (default 5; quick 1).")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Worker processes (default 2; quick 1).")] = None,
    out: Annotated[
        Path, typer.Option(callback=output_folder, help="Folder of labels.md, .json, .png and labels-estimate.png.")
    ] = Path("benchmarks/results"),
) -> None:
    """Accuracy against the label budget, labels asked for by the trainer's rule (uncertainty) or at random, on
    River's Phishing and Bananas and generated streams with a concept change; and the error of the monitor's
    confidence estimate of accuracy against the realised accuracy, with and without drift. In process, no Kafka."""
    from driftline_lab.labels import Plan, run

    plan = Plan.quick() if quick else Plan()
    if seeds is not None:
        plan.seeds = seeds
    if jobs is not None:
        plan.jobs = jobs
    _report_with_progress("label streams", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("tuning")
def tuning(
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run (seconds): 600 events per stream, halving budget 600.")
    ] = False,
    rows: Annotated[
        int | None, typer.Option(min=100, help="Events per River dataset at most (default: all of it).")
    ] = None,
    simulated: Annotated[int, typer.Option(min=100, help="Events per simulator stream.")] = 20_000,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of tuning.md, .json and .png.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """A tuned stream (River's bandit and successive-halving selectors over a grid around its model) against
    each fixed candidate of the grid, prequentially on River datasets and the simulator's streams: the tuned
    score beside the best and worst fixed candidate, and the time per event. In process, no Kafka."""
    from driftline_lab.tuning import Plan, run

    plan = Plan.quick() if quick else Plan(rows=rows, simulated=simulated)
    _report_with_progress("streams", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("monitor")
def monitor(
    events: Annotated[int, typer.Option(min=100, help="Phishing events whose outcomes the monitor handles.")] = 20_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; the trainer and the monitor alternate going first.")] = 5,
    quick: Annotated[bool, typer.Option("--quick", help="A smoke run: 2,000 events, 2 rounds.")] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of monitor.md and .json.")] = Path(
        "benchmarks/results"
    ),
) -> None:
    """The monitor's CPU per outcome against the trainer's per event, on the same Phishing stream, in one
    process (no Kafka): outcomes per CPU-second over events per CPU-second (target 3x), and the monitor's
    parts (decode, dedupe, scores, observe)."""
    from driftline_lab.monitor import Plan, run

    plan = Plan.quick() if quick else Plan(events, rounds)
    _report_with_progress("rounds", lambda say, progress: run(plan, out, _command(), say, progress))


@bench_app.command("scale")
def scale(
    keys: Annotated[int, typer.Option(min=12, help="Per-device model keys.")] = 100_000,
    events_per_key: Annotated[int, typer.Option(min=1, help="Labelled events per key.")] = 1,
    partitions: Annotated[
        int, typer.Option(min=2, help="Partitions of events and outcomes (each a unit of state, checkpointed whole).")
    ] = 24,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: 2,000 keys, 6 s sessions, checkpoints every 2 s.")
    ] = False,
    out: Annotated[Path, typer.Option(callback=output_folder, help="Folder of scale.md and .json.")] = Path(
        "benchmarks/results"
    ),
    bootstrap: KafkaOption = None,
) -> None:
    """Per-device model keys (logistic) over 2 trainer and 2 monitor processes on a local broker: resident memory
    per instance once every key is held, checkpoint bytes per key, and the hand-over when one trainer, then one
    monitor, is killed with SIGKILL (to the survivor's first outcome of its partitions, and to lag zero)."""
    from driftline_lab.scale import Plan, run

    plan = Plan.quick() if quick else Plan(keys=keys, events_per_key=events_per_key, partitions=partitions)
    plan.bootstrap = bootstrap
    _report_with_progress("outcomes", lambda say, progress: run(plan, out, _command(), say, progress))


def _command() -> str:
    import sys

    return " ".join(["driftline", *sys.argv[1:]])


def _report_with_progress(
    what: str, run: Callable[[Callable[[str], None], Callable[[int], Callable[[], None]]], Path]
) -> None:
    """Run a benchmark under a progress bar counting ``what``, then print the markdown it wrote."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console()
    with Progress(console=console) as bar:

        def progress(total: int) -> Callable[[], None]:
            task = bar.add_task(what, total=total)
            return lambda: bar.advance(task)

        path = run(console.print, progress)
    console.print(path.read_text(), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
