"""`driftline bench throughput`: run the side-by-side throughput benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmarks, side by side on one local broker.", no_args_is_help=True)


@bench_app.command("throughput")
def throughput(
    events: Annotated[int, typer.Option(min=100, help="Events per case.")] = 20_000,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds; contenders alternate their order.")] = 3,
    preset: Annotated[
        list[str] | None, typer.Option(help="Model presets (repeat). Default: logistic, hoeffding.")
    ] = None,
    keys: Annotated[list[int] | None, typer.Option(help="Model keys per case (repeat). Default: 1, 100.")] = None,
    peer: Annotated[bool, typer.Option("--peer/--no-peer", help="Include the Quix Streams peer.")] = True,
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: 500 events, one round, logistic, 1 key.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Folder of throughput.md, .json and .png.")] = Path("benchmarks/results"),
) -> None:
    """Bare River, the trainer end to end (exactly-once on and off) and a Quix Streams + River peer,
    on the same events and broker; events/s and per CPU-second, ratios, identical predictions."""
    import sys

    from rich.console import Console
    from rich.progress import Progress

    from driftline.bench.throughput import run

    presets = preset or (["logistic"] if quick else ["logistic", "hoeffding"])
    key_counts = keys or ([1] if quick else [1, 100])
    if quick:
        events, rounds = 500, 1
    console = Console()
    with Progress(console=console) as bar:

        def progress(total: int):
            task = bar.add_task("contender runs", total=total)
            return lambda: bar.advance(task)

        path = run(events, rounds, presets, key_counts, peer, out, " ".join(["driftline", *sys.argv[1:]]),
                   console.print, progress)  # fmt: skip
    console.print(path.read_text(), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
