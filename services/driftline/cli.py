"""The ``driftline`` command: one subcommand per service, plus the local stack and tooling."""

from __future__ import annotations

import sys
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from driftline.checkpoint import CheckpointError
from driftline.cli_options import (
    BootstrapOption,
    ConfigOption,
    output_file,
    output_folder,
    require_bootstrap,
    with_bootstrap,
)
from driftline.config import DEFAULT_CONFIG, load_settings
from driftline.config.base import ConfigError
from driftline.config.settings import Settings
from driftline.contracts import ContractError, ControlCommand
from driftline.kafkaio.clients import KafkaUnreachable
from driftline.logs import setup_logging
from driftline.modelspec import ModelSpecError
from driftline.processes import ProcessError
from driftline.status.cli import ServicesUnreachable

app = typer.Typer(
    name="driftline",
    help="Streaming continuous training and drift detection: sensors -> Kafka -> River -> Prometheus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
# Recent typer vendors click as typer._click (its own exception classes); older releases use click.
_click_errors: Any = getattr(getattr(typer.core, "_click", None), "exceptions", None) or __import__("click").exceptions


def _flag_type(display: Any) -> Any:
    """Typer's help shows a ``<bool>`` type beside plain flags, which take no value: show none."""

    def display_type_rich(self: typer.core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else display(self, ctx)

    return display_type_rich


if hasattr(typer.core.TyperOption, "display_type_rich"):  # typer >= 0.20 has the column
    typer.core.TyperOption.display_type_rich = _flag_type(typer.core.TyperOption.display_type_rich)  # type: ignore[method-assign]


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"driftline {version('driftline')}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    setup_logging(verbose)


@app.command("config")
def config_cmd(
    config: ConfigOption = None,
    reference: Annotated[
        bool, typer.Option("--reference", help="Print every configuration key as Markdown (docs/configuration.md).")
    ] = False,
) -> None:
    """Check a config file and summarise its streams."""
    if reference:
        from driftline.config.reference import reference as config_reference

        typer.echo(config_reference(), nl=False)
        return
    from driftline import assets
    from driftline.config import config_file

    settings = load_settings(config)
    chosen = config_file(config)
    if chosen is None:
        typer.echo(f"{assets.STARTER_CONFIG_NAME} (`driftline init` writes it to {DEFAULT_CONFIG}):")
    else:
        typer.echo(f"{chosen}:")
    for name, stream in settings.streams.items():
        typer.echo(
            f"{name}: {stream.task}, {len(stream.features)} features, model {stream.model!r}, "
            f"scope {stream.scope}, drift {stream.drift.concept}"
        )
    typer.echo(f"ok: {len(settings.streams)} streams")


@app.command()
def init(
    out: Annotated[
        Path | None,
        typer.Option(
            help=f"File to write (default: {DEFAULT_CONFIG}, which every command reads).", callback=output_file
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the starter config (the built-in one: two simulated streams) to edit for your own sensors."""
    from driftline import assets

    path = out or DEFAULT_CONFIG
    if path.exists() and not force:
        raise typer.BadParameter(f"{path} exists; pass --force to overwrite it", param_hint="'--out'")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(assets.starter_config())
    except OSError as e:
        raise typer.BadParameter(f"{path}: {e.strerror}", param_hint="'--out'") from None
    if path == DEFAULT_CONFIG:
        typer.echo(f"wrote {path}: every command reads it from this folder (`driftline config` checks it)")
    else:
        typer.echo(f"wrote {path}: pass --config {path} (or set DRIFTLINE_CONFIG={path}) to use it")


@app.command()
def schemas(
    check: Annotated[bool, typer.Option("--check", help="Fail if the folder differs from the models.")] = False,
) -> None:
    """Write the JSON Schema of every event contract: in a checkout to the package's (services/driftline/assets/
    schemas), in an install to schemas/ in the working directory."""
    from driftline.schemas import SCHEMA_DIR, stale_schemas, write_schemas

    if check:
        stale = stale_schemas()
        if stale:
            err.print(f"stale schemas in {SCHEMA_DIR}: {', '.join(stale)}; run `driftline schemas`")
            raise typer.Exit(1)
        typer.echo("schemas are up to date")
        return
    for path in write_schemas():
        typer.echo(f"wrote {path}")


@app.command()
def dashboards(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write to (default: services/driftline/assets/grafana/dashboards in a checkout, "
            "grafana/dashboards in an install).",
            callback=output_folder,
        ),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Fail if the folder differs from the generator.")] = False,
) -> None:
    """Write the Grafana dashboards (services/driftline/ops/dashboards.py) as JSON."""
    from driftline.ops.dashboards import DASHBOARD_DIR, stale_dashboards, write_dashboards

    folder = out or DASHBOARD_DIR
    if check:
        stale = stale_dashboards(folder)
        if stale:
            err.print(f"stale dashboards in {folder}: {', '.join(stale)}; run `driftline dashboards`")
            raise typer.Exit(1)
        typer.echo("dashboards are up to date")
        return
    for path in write_dashboards(folder):
        typer.echo(f"wrote {path}")


@app.command()
def broker(
    data_dir: Annotated[
        Path, typer.Option(help="Where the broker keeps its data and log.", callback=output_folder)
    ] = Path(".driftline/kafka"),
    port: Annotated[int, typer.Option(help="Client port on 127.0.0.1 (0: any free port).")] = 0,
    fetch_only: Annotated[
        bool,
        typer.Option("--fetch-only", help="Only download the Kafka jars and make the JVM's class archive (once)."),
    ] = False,
    nodes: Annotated[
        int, typer.Option(min=1, max=9, help="Nodes; more than 1: a cluster (replication 3, min.insync.replicas 2).")
    ] = 1,
) -> None:
    """Run a local Kafka broker (KRaft), or a cluster of them, until Ctrl-C."""
    from driftline.kafkaio.broker import LocalBroker, archive_classes, fetch_jars
    from driftline.kafkaio.cluster import LocalCluster
    from driftline.processes import free_port
    from driftline.runtime import stop_on_signals

    if fetch_only:
        jars = fetch_jars()
        archive = archive_classes(jars)
        typer.echo(f"Kafka jars in {jars}" + (f", their class archive {archive.name}" if archive else ""))
        return
    if nodes > 1:
        if port:
            raise typer.BadParameter("--port is for one node; a cluster's nodes take free ports", param_hint="--port")
        with LocalCluster(data_dir, size=nodes) as cluster:
            typer.echo(f"Kafka cluster of {nodes} nodes on {cluster.bootstrap_servers} (logs under {data_dir}); "
                       "set kafka.replication_factor = 3; Ctrl-C stops it")  # fmt: skip
            stop_on_signals().wait()
        return
    with LocalBroker(data_dir=data_dir, port=port or free_port()) as local:
        typer.echo(f"Kafka broker on {local.bootstrap_servers} (log: {local.log_file}); Ctrl-C stops it")
        stop_on_signals().wait()


@app.command()
def topics(config: ConfigOption = None, bootstrap: BootstrapOption = None) -> None:
    """Create driftline's topics on the configured cluster."""
    from driftline.kafkaio.clients import cluster, require_reachable
    from driftline.kafkaio.topics import ensure_topics

    settings = with_bootstrap(load_settings(config), bootstrap)
    require_reachable(require_bootstrap(settings, "topics"))
    created = ensure_topics(cluster(settings), settings.topics, settings.kafka.replication_factor)
    typer.echo(f"created: {', '.join(created) or 'nothing (all topics exist)'}")


def _role_user(item: str) -> tuple[str, str]:
    role, _, user = item.partition("=")
    if not role or not user:
        raise ConfigError(f"--principal {item!r}: expected ROLE=USER, e.g. trainer=svc-trainer")
    return role, user


@app.command()
def acls(
    config: ConfigOption = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create them, connecting as the configured (admin) Kafka user.")
    ] = False,
    principal: Annotated[
        list[str] | None, typer.Option(help="ROLE=USER: a role's Kafka user, when not named as the role.")
    ] = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """Print (or create) the Kafka ACLs of every driftline role for the configured topics (docs/security.md)."""
    from driftline.kafkaio.acls import ROLES, apply_acls, grants
    from driftline.kafkaio.clients import cluster, require_reachable

    settings = with_bootstrap(load_settings(config), bootstrap)
    names = dict(_role_user(item) for item in principal or [])
    if unknown := sorted(set(names) - set(ROLES)):
        raise ConfigError(f"--principal: no role {', '.join(unknown)} (roles: {', '.join(ROLES)})")
    if apply:
        require_reachable(require_bootstrap(settings, "acls --apply"))
        typer.echo(f"created {apply_acls(cluster(settings), settings, names)} ACLs")
        return
    for g in grants(settings):
        pattern = "prefix" if g.prefixed else "literal"
        typer.echo(f"User:{names.get(g.role, g.role)}\tALLOW {g.operation.upper()}\t{g.resource} {pattern} {g.name}")


@app.command()
def smoke(
    config: ConfigOption = None,
    count: Annotated[int, typer.Option(min=1, help="Events to send and read back.")] = 1000,
    bootstrap: BootstrapOption = None,
) -> None:
    """Produce events to Kafka and consume them back (starts a local broker if none is configured)."""
    from driftline.kafkaio.broker import kafka_or_local
    from driftline.smoke import round_trip

    settings = with_bootstrap(load_settings(config), bootstrap)
    with kafka_or_local(settings) as bootstrap:
        report = round_trip(bootstrap, settings, count)
    typer.echo(report)


checkpoints_app = typer.Typer(help="What the checkpoint store holds: list, show, verify.", no_args_is_help=True)
app.add_typer(checkpoints_app, name="checkpoints")


def _stored(settings: Settings, command: str) -> list[tuple[dict, list[bytes] | None]]:
    """Every checkpoint's manifest and chunks in the checkpoint store of ``settings``' cluster."""
    from driftline.kafkaio.checkpoints import store_for
    from driftline.kafkaio.clients import cluster, require_reachable

    require_reachable(require_bootstrap(settings, command))
    store = store_for(settings, cluster(settings))
    try:
        return list(store.manifests())
    finally:
        store.close()


def _created(manifest: dict) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(manifest.get("created", 0)), UTC).isoformat(timespec="seconds")


@checkpoints_app.command("list")
def checkpoints_list(config: ConfigOption = None, bootstrap: BootstrapOption = None) -> None:
    """One line per stored checkpoint: group/unit, id, time, size and input offsets."""
    stored = _stored(with_bootstrap(load_settings(config), bootstrap), "checkpoints list")
    for manifest, _ in stored:
        offsets = ", ".join(f"{k}={v}" for k, v in sorted(manifest.get("offsets", {}).items()))
        typer.echo(
            f"{manifest.get('group')}/{manifest.get('unit')}  {str(manifest.get('checkpoint_id'))[:12]}  "
            f"{_created(manifest)}  {int(manifest.get('size', 0)):,} bytes  {offsets}"
        )
    typer.echo(f"{len(stored)} checkpoints")


@checkpoints_app.command("show")
def checkpoints_show(
    name: Annotated[str, typer.Argument(help="group/unit, as `checkpoints list` prints it.")],
    config: ConfigOption = None,
    bootstrap: BootstrapOption = None,
) -> None:
    """The manifest of one checkpoint (its state stays unread)."""
    import json

    for manifest, _ in _stored(with_bootstrap(load_settings(config), bootstrap), "checkpoints show"):
        if f"{manifest.get('group')}/{manifest.get('unit')}" == name:
            typer.echo(json.dumps({**manifest, "created_at": _created(manifest)}, indent=1, sort_keys=True))
            return
    raise ConfigError(f"checkpoints: no checkpoint named {name!r}")


@checkpoints_app.command("verify")
def checkpoints_verify(config: ConfigOption = None, bootstrap: BootstrapOption = None) -> None:
    """Check every checkpoint's signature and chunks with the configured key; exit 1 if any is refused."""
    from driftline.checkpoint import CheckpointError, signer_for

    settings = with_bootstrap(load_settings(config), bootstrap)
    signer = signer_for(settings)
    refused = 0
    stored = _stored(settings, "checkpoints verify")
    for manifest, chunks in stored:
        name = f"{manifest.get('group')}/{manifest.get('unit')}"
        try:
            if chunks is None:
                raise CheckpointError(f"checkpoint {name}: chunks are missing")
            signer.open(manifest, chunks)
            typer.echo(f"ok       {name}")
        except (CheckpointError, KeyError, TypeError) as e:
            refused += 1
            typer.echo(f"REFUSED  {e}")
    typer.echo(f"{len(stored) - refused} of {len(stored)} checkpoints verified")
    if refused:
        raise typer.Exit(1)


class Role(StrEnum):
    """What `models import --as` makes of the model."""

    champion = "champion"
    challenger = "challenger"


models_app = typer.Typer(
    help="One model key's model as a signed file: export it from the checkpoints, import it into a trainer.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


@models_app.command("export")
def models_export(
    model_key: Annotated[str, typer.Option("--model-key", help="The model key whose model to export.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="The file to write (default: <model key>.model).", callback=output_file)
    ] = None,
    challenger: Annotated[
        str | None, typer.Option("--challenger", help="Export this challenger (by name) instead of the champion.")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="The trainer group (default: trainer.group_id).")] = None,
    bootstrap: BootstrapOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the model of a model key, from the newest checkpoint holding it, to a signed model file.

    Reads the checkpoints from Kafka: no trainer needs to run."""
    import re

    from driftline.checkpoint import signer_for
    from driftline.trainer.transfer import export, slot_in

    settings = with_bootstrap(load_settings(config), bootstrap)
    signer = signer_for(settings)
    slot = slot_in(_stored(settings, "models export"), group or settings.trainer.group_id, model_key, signer)
    data = export(slot, signer, challenger)
    path = out or Path(re.sub(r"[^A-Za-z0-9_.-]", "_", model_key) + ".model")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    name = challenger or slot.served.name
    typer.echo(f"wrote {path}: {model_key} {name} v{slot.version}, {slot.learned:,} learned, {len(data):,} bytes")


def _model_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None


@models_app.command("import")
def models_import(
    file: Annotated[Path, typer.Argument(help="A model file written by `driftline models export`.")],
    model_key: Annotated[str, typer.Option("--model-key", help="The model key to give the model to.")],
    role: Annotated[
        Role, typer.Option("--as", help="champion: serve it (a new model version); challenger: score it beside.")
    ] = Role.champion,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="The key the file was signed with, when not this deployment's checkpoint key; the file is "
            "verified with it and signed again with this deployment's key.",
        ),
    ] = None,
    wait: Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for the trainer's ack (0: none).")] = 30,
    bootstrap: BootstrapOption = None,
    config: ConfigOption = None,
) -> None:
    """Send a model file to the trainer holding a model key, as its champion or a challenger (a control command)."""
    from driftline.checkpoint import Signer, signer_for
    from driftline.trainer.transfer import import_command

    settings = load_settings(config)
    signer = signer_for(settings)
    data = _model_file(file)
    if key_file is not None:
        from driftline.modelfile import resign

        try:
            signed_with = Signer(_model_file(key_file).strip())
        except ValueError as e:
            raise ConfigError(f"--key-file {key_file}: {e}") from None
        data = resign(data, signed_with, signer, str(file))
    command = import_command(data, model_key, role.value, settings, signer, str(file))  # type: ignore[arg-type]
    _command_and_ack(settings, bootstrap, command, wait, f"{file} to {model_key} as {role.value}")


def _command_and_ack(
    settings: Settings, bootstrap: str | None, command: ControlCommand, wait: float, what: str
) -> None:
    """Publish ``command`` to the control topic and print the first trainer's ack; exit 1 if none applies it."""
    from driftline.kafkaio.clients import cluster, make_producer, require_reachable
    from driftline.monitor.webhook import kafka_publisher
    from driftline.trainer.transfer import acks_ends, await_ack

    servers = cluster(settings, require_bootstrap(with_bootstrap(settings, bootstrap), f"sending {what}"))
    require_reachable(servers)
    acks = settings.topics.acks
    since = acks_ends(servers, acks.name, acks.partitions)
    kafka_publisher(make_producer(servers), settings.topics.control.name)([command])
    typer.echo(f"sent {command.command_id}: {what}")
    if not wait:
        return
    answers = await_ack(servers, acks.name, command.command_id, since, wait)
    answer = next((a for a in answers if a.status != "ignored"), None)
    target = f"model key {command.model_key!r}" if command.model_key else f"a model key of stream {command.stream!r}"
    if answer is None:
        who = f"ignored by {len(answers)} trainer(s)" if answers else f"no trainer answered in {wait:g}s"
        _fail(f"{command.command_id}: no trainer holds {target} ({who})", 1)
    elif answer.status == "failed":
        _fail(f"{command.command_id}: the trainer refused it: {answer.detail}", 1)
    else:
        typer.echo(f"{answer.status}: {answer.detail} (model version {answer.model_version})")


@models_app.command("show")
def models_show(
    file: Annotated[Path, typer.Argument(help="A model file.")],
    config: ConfigOption = None,
) -> None:
    """A model file's header, and whether its signature verifies with the configured key (exit 1 if not)."""
    import dataclasses
    import json

    from driftline.checkpoint import signer_for
    from driftline.modelfile import ModelFileError, peek, verify

    data = _model_file(file)
    typer.echo(json.dumps(dataclasses.asdict(peek(data, str(file))), indent=1, sort_keys=True))
    try:
        verify(data, signer_for(load_settings(config)), str(file))
    except ModelFileError as e:
        typer.echo(f"REFUSED  {e}")
        raise typer.Exit(1) from None
    typer.echo("ok: the signature and the digest verify")


challenger_app = typer.Typer(
    help="Challengers by command: a model spec learns beside a stream's champion, scored for promotion.",
    no_args_is_help=True,
)
app.add_typer(challenger_app, name="challenger")

StreamOption = Annotated[str, typer.Option("--stream", help="The stream whose model keys get the command.")]
KeyOption = Annotated[
    str | None, typer.Option("--model-key", help="Only this model key (default: every key of the stream).")
]
WaitOption = Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait for a trainer's ack (0: none).")]


def _challenger_command(action: str, stream: str, model_key: str | None, **fields: Any) -> ControlCommand:
    import uuid

    from driftline.contracts import parse

    command = {
        "command_id": f"{action.replace('_', '-')}-{uuid.uuid4().hex}",
        "action": action,
        "stream": stream,
        "model_key": model_key,
        "issuer": "driftline-cli",
        **fields,
    }
    return parse(ControlCommand, command)  # a bad model key or name is a ContractError naming the field


@challenger_app.command("add")
def challenger_add(
    stream: StreamOption,
    model: Annotated[str, typer.Option("--model", help="The challenger's model spec: a preset or River expression.")],
    name: Annotated[str | None, typer.Option("--name", help="Its name in metrics (default: the spec).")] = None,
    model_key: KeyOption = None,
    wait: WaitOption = 30,
    bootstrap: BootstrapOption = None,
    config: ConfigOption = None,
) -> None:
    """Add a challenger built from a model spec (e.g. a backtest's winner): it learns from the command on."""
    from driftline.modelspec import check_model_expression

    settings = load_settings(config)
    settings.stream(stream)  # a clear error for an unknown stream
    check_model_expression(model)
    command = _challenger_command(
        "add_challenger", stream, model_key, spec=model, candidate=name, reason=f"add challenger {name or model}"[:200]
    )
    _command_and_ack(settings, bootstrap, command, wait, f"challenger {name or model} to {model_key or stream}")


@challenger_app.command("remove")
def challenger_remove(
    stream: StreamOption,
    name: Annotated[str, typer.Option("--name", help="The challenger's name, as `challenger add` gave it.")],
    model_key: KeyOption = None,
    wait: WaitOption = 30,
    bootstrap: BootstrapOption = None,
    config: ConfigOption = None,
) -> None:
    """Remove a challenger added by `challenger add` (not a configured one, nor the served model)."""
    settings = load_settings(config)
    settings.stream(stream)
    command = _challenger_command(
        "remove_challenger", stream, model_key, candidate=name, reason=f"remove challenger {name}"[:200]
    )
    _command_and_ack(settings, bootstrap, command, wait, f"remove challenger {name} of {model_key or stream}")


def _register_services() -> None:
    # Each service package owns its commands; the CLI only gathers them.
    from driftline.backtest.cli import register as register_backtest
    from driftline.collector.cli import register as register_collector
    from driftline.monitor.cli import register as register_monitor
    from driftline.stack import register as register_stack
    from driftline.status.cli import register as register_status
    from driftline.trainer.cli import register as register_trainer

    registers = (
        register_collector,
        register_trainer,
        register_monitor,
        register_stack,
        register_status,
        register_backtest,
    )
    for register in registers:
        register(app)
    register_plugins(app)


#: Where a distribution beside driftline adds commands (the lab's ``driftline bench``): an entry point
#: ``name = "module:register"`` in this group, called with the CLI's app. The product imports none of them.
PLUGIN_GROUP = "driftline.commands"
#: The lab's distribution (the repository's benchmarks/ folder) and the command it adds.
LAB_DISTRIBUTION, LAB_COMMAND = "driftline-lab", "bench"
LAB_HINT = (
    f"`driftline {LAB_COMMAND}` comes with the lab, which is not installed here: "
    f"pip install -e benchmarks (in a checkout of driftline; ./run test installs it)"
)


def register_plugins(app: typer.Typer) -> None:
    """Add the commands of the installed plugins (:data:`PLUGIN_GROUP`); without the lab, a ``bench`` that says so.

    A plugin that cannot be imported (installed for another environment, or broken) adds nothing: the
    product's own commands still run, and its command says what failed when called.
    """
    found = {entry.name: entry for entry in entry_points(group=PLUGIN_GROUP)}
    failed: dict[str, str] = {}
    for name, entry in found.items():
        try:
            register = entry.load()
        except ImportError as e:
            failed[name] = f"{entry.value}: {type(e).__name__}: {e}"
            continue
        register(app)
    missing = {name: f"`driftline {name}` could not be loaded ({why})" for name, why in failed.items()}
    if LAB_COMMAND not in found:
        missing[LAB_COMMAND] = LAB_HINT
    for name, message in missing.items():
        _missing_command(app, name, message)


def _missing_command(app: typer.Typer, name: str, message: str) -> None:
    @app.command(
        name,
        help=f"Not available here: {message}",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def missing() -> None:
        _fail(message, 2)


_register_services()


USER_ERRORS = (
    ConfigError, ContractError, ModelSpecError, ProcessError, CheckpointError, KafkaUnreachable,
    ServicesUnreachable,
)  # fmt: skip


def _fail(message: str, code: int) -> None:
    # One line, naming the problem: these are the user's to fix, not tracebacks or boxes to read.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    try:
        # Not standalone: click's own handling draws a multi-line box around a usage error.
        code = app(standalone_mode=False)
    except _click_errors.NoArgsIsHelpError as e:
        sys.exit(e.exit_code)  # typer has printed the help already
    except _click_errors.ClickException as e:
        ctx = getattr(e, "ctx", None)
        where = f" (see `{ctx.command_path} --help`)" if isinstance(e, _click_errors.UsageError) and ctx else ""
        # typer words a refused choice as pydantic does ("Value error, 'x' is not one of ..."): the value says it.
        message = " ".join(e.format_message().split()).replace(": Value error, ", ": ")
        _fail(message + where, e.exit_code)
    except typer.Abort:
        _fail("aborted", 1)  # end of input at a prompt; Ctrl-C arrives as exit code 130
    except USER_ERRORS as e:
        _fail(str(e), 2)
    else:
        sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
