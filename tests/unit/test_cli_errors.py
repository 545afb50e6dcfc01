"""Bad input to the `driftline` command is one line on stderr naming the problem, and exit code 2.

The commands run in this process (cli_driver.py); Kafka, the services and every other program are
refused to them, since a bad value must be refused before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_driver import CONFIG, StartedWork, driftline, one_line_error, refuse_work

COLLECTOR = "http://127.0.0.1:9"  # never reached: each command here fails before it sends anything


@pytest.fixture(autouse=True)
def no_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    refuse_work(monkeypatch, tmp_path / "state")


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """``run(*args)``: the one-line error of a refused ``driftline *args``, without its ``error: ``."""
    return lambda *args: one_line_error(*driftline(monkeypatch, capsys, *args))


def test_a_principal_without_a_user(run) -> None:
    assert run("acls", "-c", CONFIG, "--principal", "bad") == (
        "--principal 'bad': expected ROLE=USER, e.g. trainer=svc-trainer"
    )
    assert run("acls", "-c", CONFIG, "--principal", "trainer=").startswith("--principal 'trainer=': expected ROLE=USER")
    assert run("acls", "-c", CONFIG, "--principal", "pilot=x").startswith("--principal: no role pilot")


def test_a_tokens_file_that_is_missing_or_not_json(run, tmp_path: Path) -> None:
    simulate = ("simulate", "-c", CONFIG, "--collector", COLLECTOR, "--tokens")
    assert run(*simulate, "/nonexistent.json") == "--tokens /nonexistent.json: No such file or directory"
    assert run("simulate", "-c", CONFIG, "--tokens", "/nonexistent.json").startswith("--tokens /nonexistent.json: ")
    bad = tmp_path / "tokens.json"
    bad.write_text("{nope")
    assert run(*simulate, str(bad)).startswith(f"--tokens {bad}: not JSON (Expecting property name")
    bad.write_bytes(b"\xff\xfe")
    assert run(*simulate, str(bad)).startswith(f"--tokens {bad}: not JSON")
    bad.write_text('["rooms-000"]')
    assert run(*simulate, str(bad)) == (
        f'--tokens {bad}: expected a JSON object of device id -> token, e.g. {{"rooms-000": "..."}}'
    )
    assert "is a directory" in run(*simulate, str(tmp_path))
    good = tmp_path / "good.json"
    good.write_text('{"rooms-000": "t"}')
    assert run("simulate", "-c", CONFIG, "--tokens", str(good)) == (
        "simulate --tokens: the tokens are for a collector; pass its --collector URL too"
    )


@pytest.mark.parametrize("command", ["simulate", "stack"])
def test_too_few_events_for_the_drift_schedule(run, command: str, tmp_path: Path) -> None:
    line = run(command, "-c", CONFIG, "--events", "10")
    assert "'--events'" in line and "17" in line, line
    assert not (tmp_path / "state").exists()  # refused before anything was written


@pytest.mark.parametrize("command", ["simulate", "stack"])
def test_a_scenario_without_its_stream_fails_before_kafka(run, command: str, tmp_path: Path) -> None:
    config = tmp_path / "rooms-only.toml"
    config.write_text('[streams.rooms]\ntask = "binary"\ntarget = "occupied"\n[streams.rooms.features.t]\n')
    assert run(command, "-c", str(config)) == "streams.machines: no such stream (configured: rooms)"
    assert not (tmp_path / "state").exists()


def test_export_refuses_a_format_before_it_reads_the_lake(run, tmp_path: Path) -> None:
    line = run("export", "--stream", "rooms", "-c", CONFIG, "--lake", str(tmp_path / "no-lake"), "--format", "xml")
    assert line == (
        "Invalid value for '--format': 'xml' is not one of 'parquet', 'csv'. (see `driftline export --help`)"
    )
    # The stream is --stream, as for every other command (it was an argument of export's own).
    assert run("export", "rooms", "-c", CONFIG) == "Missing option '--stream'. (see `driftline export --help`)"


#: Commands that reach Kafka and the command words their refusal names.
KAFKA_COMMANDS = {
    "models export": ["--model-key", "rooms"],
    "checkpoints list": [],
    "checkpoints show": ["trainer/p0"],
    "checkpoints verify": [],
    "topics": [],
    "acls --apply": [],
    "reset": ["--stream", "rooms"],
    "archive": [],
    "replay": ["river:Phishing", "--stream", "rooms"],
    "simulate": [],
}


@pytest.mark.parametrize("command", KAFKA_COMMANDS)
def test_a_command_that_reaches_kafka_takes_bootstrap_and_names_the_variable_without(run, command: str) -> None:
    words = command.split()
    args = [*words, *KAFKA_COMMANDS[command], "-c", CONFIG]
    line = run(*args)
    assert f"{command}: no Kafka to reach: pass --bootstrap host:port" in line, line
    assert "kafka.bootstrap_servers or DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS" in line, line


@pytest.mark.parametrize("command", KAFKA_COMMANDS)
def test_bootstrap_is_the_cluster_a_command_reaches(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(StartedWork, match="reach"):
        driftline(monkeypatch, capsys, *command.split(), *KAFKA_COMMANDS[command], "-c", CONFIG,
                  "--bootstrap", "127.0.0.1:9")  # fmt: skip


def test_one_environment_variable_per_secret(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from driftline.cli_options import DEVICE_TOKEN_ENV, TRAINER_TOKEN_ENV

    help_of = {name: command for name, command in commands()}
    envvars = {(name, p.opts[0]): p.envvar for name, c in help_of.items() for p in c.params if p.envvar}
    assert envvars == {("replay", "--token"): DEVICE_TOKEN_ENV, ("status", "--token"): TRAINER_TOKEN_ENV}
    monkeypatch.setenv("DRIFTLINE_TOKEN", "x")
    assert run("config", "-c", CONFIG).startswith(
        "environment variable DRIFTLINE_TOKEN: no longer read; it served two secrets: DRIFTLINE_DEVICE_TOKEN is"
    )


def test_the_collectors_url_is_collector_everywhere_and_the_old_name_still_works(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name, command in commands():
        opts = {o for p in command.params if not p.hidden for o in p.opts}
        assert "--url" not in opts, f"driftline {name} --url: the collector's URL is --collector"
    # The old spelling, hidden from --help: a note, then the same as the new one.
    missing = str(tmp_path / "missing.json")
    code, _, err = driftline(monkeypatch, capsys, "simulate", "-c", CONFIG, "--url", COLLECTOR, "--tokens", missing)
    assert code == 2 and err.splitlines() == [
        "note: --url is deprecated, pass --collector",
        f"error: --tokens {missing}: No such file or directory",
    ]


def test_choices_are_listed_in_help_and_refused_before_any_work(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = {(name, p.opts[0]): choices(p) for name, c in commands() for p in c.params if choices(p)}
    assert {("reset", "--action"), ("reset", "--mode"), ("models import", "--as"), ("export", "--format"),
            ("simulate", "--scenario")} <= set(found)  # fmt: skip
    monkeypatch.setenv("COLUMNS", "200")
    for (name, option), words in found.items():
        code, out, _ = driftline(monkeypatch, capsys, *name.split(), "--help")
        line = next((line for line in out.splitlines() if f"{option} " in line), "")
        assert code == 0 and "|".join(words) in line, (name, option, out)


def test_a_config_file_that_is_a_folder_or_not_text(run, tmp_path: Path) -> None:
    assert run("config", "-c", str(tmp_path)) == f"{tmp_path}: Is a directory"
    binary = tmp_path / "driftline.toml"
    binary.write_bytes(b"\xff\xfe[streams]")
    assert run("config", "-c", str(binary)) == (
        f"{binary}: not valid TOML: not UTF-8 text (invalid start byte at byte 0)"
    )


def test_an_output_that_cannot_be_written_is_refused_before_any_work(run, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    line = run("bench", "tuning", "--out", str(afile / "results"))
    assert line.startswith(f"Invalid value for '--out': {afile} is not a folder (in {afile / 'results'})")
    line = run("models", "export", "--model-key", "rooms", "-c", CONFIG, "--out", str(tmp_path))
    assert line.startswith(f"Invalid value for '--out': {tmp_path} is a folder, not a file")


# --- The sweep: every command, every option that takes a file, a folder or one of a few words. ---

#: Valid values of each command's required parameters, so that the bad value is the one refused.
REQUIRED = {
    "replay": ["river:Phishing", "--stream", "rooms"],
    "export": ["--stream", "rooms"],
    "backtest": ["--stream", "rooms"],
    "reset": ["--stream", "rooms"],
    "checkpoints show": ["trainer/p0"],
    "models export": ["--model-key", "rooms"],
    "models import": ["{model}", "--model-key", "rooms"],
    "models show": ["{model}"],
    "challenger add": ["--stream", "rooms", "--model", "logistic"],
    "challenger remove": ["--stream", "rooms", "--name", "x"],
}
#: Options that take one of a few words as free text (those with choices are found by :func:`choices`).
WORDS = {("bench throughput", "--preset"), ("acls", "--principal")}


def choices(param: Any) -> list[str]:
    """The words an option takes when its type is an Enum (or a list of one, or either or None), else []."""
    import types
    from enum import Enum
    from typing import Union, get_args, get_origin

    annotation = param.type_descriptor.annotation
    while get_origin(annotation) in (list, Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    return [m.value for m in annotation] if isinstance(annotation, type) and issubclass(annotation, Enum) else []


def commands() -> list[tuple[str, Any]]:
    import typer

    from driftline.cli import app

    def walk(command: Any, path: tuple[str, ...]) -> list[tuple[str, Any]]:
        if hasattr(command, "commands"):
            return [found for name, sub in command.commands.items() for found in walk(sub, (*path, name))]
        return [(" ".join(path), command)]

    return walk(typer.main.get_command(app), ())


def bad_values(command: str, param: Any, tmp: Path) -> list[str]:
    """Values no command can use: a path under a file, a file for a folder, a folder or garbage for a file."""
    from driftline.cli_options import output_file, output_folder

    if (command, param.opts[0]) in WORDS or choices(param):
        return ["bogus"]
    if param.bare_type() != "Path":
        return []
    check = getattr(param.callback, "__wrapped__", param.callback)  # typer wraps an option's callback
    if check is output_folder:
        return [str(tmp / "afile" / "x"), str(tmp / "afile")]
    if check is output_file:
        return [str(tmp / "afile" / "x"), str(tmp)]
    return [str(tmp / "afile" / "x"), str(tmp), str(tmp / "garbage")]


def sweep_cases(tmp: Path) -> list[list[str]]:
    cases = []
    for name, command in commands():
        names = [p.opts[0] for p in command.params]
        required = [v.format(model=tmp / "garbage") for v in REQUIRED.get(name, [])]
        for param in command.params:
            option = param.opts[0].startswith("-")
            given = any(o in required for o in param.opts) if option else required[:1] != [] and required[0][0] != "-"
            assert given or not param.required, f"driftline {name}: give REQUIRED a valid {param.opts[0]}"
        for param in command.params:
            for value in bad_values(name, param, tmp):
                args = [*required]
                if param.opts[0].startswith("-"):
                    args += [param.opts[0], value]
                else:  # the command's (first) argument
                    args[0] = value
                if "--config" in names and param.opts[0] != "--config":
                    args += ["-c", CONFIG]
                cases.append([*name.split(), *args])
    return cases


def test_every_command_refuses_bad_files_folders_and_words_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "garbage").write_bytes(b"\xff\xfe\x00garbage{[")
    # Kafka is configured, so a command gets as far as reaching it, which refuse_work refuses.
    monkeypatch.setenv("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
    cases = sweep_cases(tmp_path)
    assert len(cases) > 80 and {case[0] for case in cases} >= {"stack", "bench", "models", "export", "simulate"}
    failed = []
    for args in cases:
        try:
            code, out, err = driftline(monkeypatch, capsys, *args)
            one_line_error(code, out, err)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # a traceback's exception, StartedWork, or what one_line_error found
            failed.append(f"driftline {' '.join(args)}: {type(e).__name__}: {str(e)[:300]}")
    assert failed == [], "\n".join(failed)


def test_chaos_refuses_minutes_out_of_range(run) -> None:
    line = run("bench", "chaos", "--minutes", "0")
    assert line.startswith("Invalid value for '--minutes': Input should be greater than or equal to 0.1")
    assert run("bench", "chaos", "--minutes", "many").startswith("Invalid value for '--minutes': Input should be a")
