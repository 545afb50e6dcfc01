"""`driftline stack` keeps each run's state in a folder of its own and deletes nothing unasked.

The folders (StackRuns) directly, then the command in this process (cli_driver.py) up to the point
where it would start Kafka.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_driver import CONFIG, StartedWork, driftline, one_line_error, refuse_work

from driftline.stack import StackRuns


def tree(root: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and link (its target) under ``root``."""
    return {
        str(p.relative_to(root)): str(p.readlink()) if p.is_symlink() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_symlink() or p.is_file()
    }


def fill(run: Path) -> None:
    (run / "lake" / "stream=rooms").mkdir(parents=True)
    (run / "lake" / "stream=rooms" / "part-1.parquet").write_bytes(b"PAR1")
    (run / "checkpoint.key").write_bytes(b"key")


def test_each_start_makes_a_folder_of_its_own_and_links_it_as_latest(tmp_path: Path) -> None:
    runs = StackRuns(tmp_path / "stack")
    first = runs.start(seed=3)
    fill(first)
    second = runs.start(seed=3)  # within the same second, most likely: a name of its own all the same
    assert first.name.endswith("-seed3") and second.name.endswith(("-seed3", "-seed3-2")) and second != first
    assert runs.listed() == [first, second]
    assert runs.latest.is_symlink() and runs.latest.resolve() == second.resolve()
    assert str(runs.latest.readlink()) == f"runs/{second.name}"  # relative: the folder can move
    assert (runs.latest / "..").resolve() == runs.runs.resolve()
    assert tree(first)["lake/stream=rooms/part-1.parquet"] == b"PAR1"  # the earlier run is kept


def test_removing_keeps_the_newest_earlier_runs_and_any_a_stack_runs_on(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    other = StackRuns(root)  # another stack, still running on its run
    busy = other.start(seed=0)
    runs = StackRuns(root)
    done = [runs.start(seed=s) for s in (1, 2, 3)]
    for run in done:
        runs.release(run)  # those stacks have stopped
    current = runs.start(seed=4)
    (runs.runs / ".starting-1").mkdir()  # another start, between making its folder and naming it
    assert runs.running(busy) and runs.running(current) and not runs.running(done[0])
    removed, running = runs.remove_earlier(keep=1, current=current)
    assert removed == [done[1], done[0]] and running == [busy]
    assert runs.listed() == sorted([busy, done[2], current])
    assert runs.remove_earlier(keep=0, current=current) == ([done[2]], [busy])
    other.release(busy)
    assert not runs.running(busy)
    assert runs.remove_earlier(keep=0, current=current) == ([busy], [])
    assert runs.listed() == [current] and runs.latest.resolve() == current.resolve()
    assert (runs.runs / ".starting-1").is_dir()


def test_the_layout_from_before_runs_is_the_oldest_run(tmp_path: Path) -> None:
    root = tmp_path / "stack"
    fill(root)  # a stack before runs/ wrote its lake and key into the folder itself
    (root / "drift.png").write_bytes(b"png")
    runs = StackRuns(root)
    current = runs.start(seed=0)
    assert runs.legacy() == [root / "checkpoint.key", root / "drift.png", root / "lake"]
    before = tree(root)
    assert runs.remove_earlier(keep=1, current=current) == ([], [])  # one earlier run to keep: that one
    assert tree(root) == before
    assert runs.remove_earlier(keep=0, current=current) == ([root / "checkpoint.key", root / "drift.png",
                                                              root / "lake"], [])  # fmt: skip
    assert sorted(p.name for p in root.iterdir()) == ["latest", "runs"]


@pytest.fixture
def stack_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path):
    """``stack_cli(*args)``: ``driftline stack -c CONFIG *args`` up to where it would start Kafka."""
    refuse_work(monkeypatch, tmp_path / "state")
    return lambda *args: driftline(monkeypatch, capsys, "stack", "-c", CONFIG, *args)


@pytest.fixture
def earlier(tmp_path: Path) -> StackRuns:
    """The stack folder after two earlier runs (stopped) and one from before runs/."""
    runs = StackRuns(tmp_path / "state" / "stack")
    fill(runs.root)
    for seed in (1, 2):
        fill(run := runs.start(seed))
        runs.release(run)
    return runs


def test_a_taken_port_stops_the_stack_before_it_touches_a_file(
    stack_cli, earlier: StackRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(earlier.root)
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        monkeypatch.setenv("DRIFTLINE_COLLECTOR__PORT", str(port))
        # A configured Kafka is one the stack does not start, so the collector's is the first port checked.
        monkeypatch.setenv("DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
        for args in ((), ("--clean",)):
            line = one_line_error(*stack_cli(*args))
            assert line == f"collector: port {port} is already in use by another program"
    assert tree(earlier.root) == before


def test_earlier_runs_are_kept_unless_asked_and_what_is_removed_is_said(stack_cli, earlier: StackRuns) -> None:
    old = earlier.listed()
    with pytest.raises(StartedWork) as started:
        stack_cli("--free-ports", "--seed", "7")
    printed = started.value.out
    current = earlier.listed()[-1]
    assert current.name.endswith("-seed7") and earlier.latest.resolve() == current.resolve()
    assert f"this run's state: {current} (linked as {earlier.latest})" in printed.splitlines()
    assert f"3 earlier run(s) kept under {earlier.root} (--keep N or --clean removes them)" in printed.splitlines()
    assert "removed" not in printed and earlier.listed() == [*old, current] and (earlier.root / "lake").is_dir()

    def removed(printed: str) -> list[str]:
        return [line.removeprefix("removed ") for line in printed.splitlines() if line.startswith("removed ")]

    with pytest.raises(StartedWork) as started:
        stack_cli("--free-ports", "--keep", "1")  # keeps the newest earlier run: seed 7's
    gone = [*reversed(old), earlier.root / "checkpoint.key", earlier.root / "lake"]  # newest first, then pre-runs/
    assert removed(started.value.out) == [str(p) for p in gone]
    assert not any(p.exists() for p in gone) and current in earlier.listed() and len(earlier.listed()) == 2

    with pytest.raises(StartedWork) as started:
        stack_cli("--free-ports", "--clean")
    assert len(removed(started.value.out)) == 2
    assert earlier.listed() == [earlier.runs / earlier.latest.readlink().name]


def test_clean_and_keep_together_are_refused(stack_cli, earlier: StackRuns) -> None:
    before = tree(earlier.root)
    assert one_line_error(*stack_cli("--clean", "--keep", "2")).startswith("Invalid value for --clean")
    assert tree(earlier.root) == before


def test_clean_says_so_when_there_is_nothing_to_remove(stack_cli) -> None:
    with pytest.raises(StartedWork) as started:
        stack_cli("--free-ports", "--clean")
    assert "no earlier run to remove" in started.value.out.splitlines()
