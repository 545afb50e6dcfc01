"""`driftline bench tuning`: a tuned stream against each fixed candidate of its search space.

Each case is a stream and a search space around its model. Every fixed candidate, and the tuned
model (River's selector as the trainer builds it from ``[streams.S.tuning]``: bandit, and successive
halving), learns the same events prequentially (predict, score, learn); the report shows the
tuned models' score beside the best and the worst fixed candidate, and the time per event. River
datasets and the simulator's rooms and machines streams (cleaned as the trainer cleans them), in
process, no Kafka. Writes tuning.json, tuning.md and tuning.png.
"""

from __future__ import annotations

import json
import platform
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from river import datasets, metrics

from driftline import assets
from driftline.collector.simulator import SCENARIOS, SimOptions, Simulation
from driftline.config import settings_from_dict
from driftline.config.streams import StreamConfig, TuningSpec
from driftline.learning.cleaning import Cleaner
from driftline.learning.slot import ModelInput
from driftline.tuning import build_tuned, candidates, serving

SHIPPED_CONFIG = assets.path("driftline.toml")
RATES = ["optim.SGD(0.0001)", "optim.SGD(0.001)", "optim.SGD(0.01)", "optim.SGD(0.1)", "optim.SGD(1.0)"]
TREE_GRID = {"grace_period": [50, 400], "max_depth": [2, 20]}
BANDIT, HALVING = "tuned: bandit", "tuned: successive halving"

Rows = list[tuple[dict[str, Any], Any]]


@dataclass(frozen=True)
class Case:
    """A stream, the model of its config and the search space around it."""

    name: str
    source: str  # "river:<Dataset>" or "simulator:<stream>"
    task: str
    model: str
    grid: dict[str, list[Any]]


CASES = (
    Case("Phishing", "river:Phishing", "binary", "logistic", {"LogisticRegression.optimizer": RATES}),
    # Elec2 and the other larger sets are downloaded on first use; these ship with River and run offline.
    Case("Bananas", "river:Bananas", "binary", "hoeffding", TREE_GRID),
    Case("TrumpApproval", "river:TrumpApproval", "regression", "linear", {"LinearRegression.optimizer": RATES[:4]}),
    Case("simulator rooms", "simulator:rooms", "binary", "logistic", {"LogisticRegression.optimizer": RATES}),
    Case("simulator machines", "simulator:machines", "binary", "hoeffding", TREE_GRID),
)


@dataclass
class Plan:
    """What one run measures; :meth:`quick` is the smoke run (seconds)."""

    rows: int | None = None  # events per River dataset at most; None: all of it
    simulated: int = 20_000  # events per simulator stream
    halving_budget: int | None = None  # None: the config's default (1000 per candidate)

    @classmethod
    def quick(cls) -> Plan:
        return cls(rows=600, simulated=600, halving_budget=600)


# The rows are numbers only (River's datasets, the shipped config's features): every model gets the one dict the
# trainer's ModelInput makes of them, its ``numbers`` being its ``text``.


def _river_rows(name: str, limit: int | None) -> Rows:
    rows = []
    inputs = ModelInput()
    for x, y in getattr(datasets, name)():
        rows.append((inputs.encode(x).numbers, y))
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _simulated_rows(stream_name: str, events: int) -> Rows:
    """The simulator's labelled events of one stream, one device, cleaned with the shipped config's features."""
    shipped = settings_from_dict(tomllib.loads(SHIPPED_CONFIG.read_text()), str(SHIPPED_CONFIG))
    cleaner = Cleaner(StreamConfig(task="binary", features=shipped.streams[stream_name].features))
    options = SimOptions(devices=1, events=events, late_label_fraction=0.0, duplicate_rate=0.0, out_of_order_rate=0.0)
    rows = []
    inputs = ModelInput()
    for emission in Simulation(SCENARIOS[stream_name], options):
        event = emission.message
        if emission.is_label or event.label is None:
            continue
        cleaned = cleaner.clean(event.features, event.units, event.ts, device=event.device_id)
        if not cleaned.dropped:
            rows.append((inputs.encode(cleaned.features).numbers, event.label))
    return rows


def rows_of(case: Case, plan: Plan) -> Rows:
    kind, _, name = case.source.partition(":")
    return _river_rows(name, plan.rows) if kind == "river" else _simulated_rows(name, plan.simulated)


def prequential(model: Any, rows: Rows, task: str, tick: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Predict, score, learn each row; the score and CPU microseconds per event (predict and learn only).

    ``tick(model)`` sees the model after each event, outside the time measured.
    """
    metric = metrics.MAE() if task == "regression" else metrics.Accuracy()
    seconds = 0.0
    for x, y in rows:
        # CPU time of this process: on a shared machine, wall time also counts the other processes' turns.
        began = time.process_time()
        prediction = model.predict_one(x)
        model.learn_one(x, y)
        seconds += time.process_time() - began
        metric.update(y, prediction)
        if tick is not None:
            tick(model)
    return {"score": metric.get(), "us_per_event": seconds / max(len(rows), 1) * 1e6}


def run_case(case: Case, plan: Plan) -> dict[str, Any]:
    rows = rows_of(case, plan)
    fixed = []
    for name, model in candidates(case.model, TuningSpec(grid=case.grid), case.task == "regression"):
        fixed.append({"candidate": name, **prequential(model, rows, case.task)})
    tuned = []
    for label, spec in (
        (BANDIT, TuningSpec(grid=case.grid)),
        (HALVING, TuningSpec(grid=case.grid, selector="successive_halving", budget=plan.halving_budget)),
    ):
        served: Counter[str] = Counter()
        model = build_tuned(case.model, spec, case.task)
        result = prequential(model, rows, case.task, lambda m, seen=served: seen.update([serving(m)]))
        tuned.append({"selector": label, **result, "final": serving(model), "served": dict(served.most_common())})
    lower = case.task == "regression"
    ranked = sorted(fixed, key=lambda r: r["score"], reverse=not lower)
    return {
        "case": case.name,
        "source": case.source,
        "task": case.task,
        "model": case.model,
        "grid": case.grid,
        "events": len(rows),
        "metric": "MAE" if lower else "accuracy",
        "fixed": fixed,
        "best": ranked[0],
        "worst": ranked[-1],
        "tuned": tuned,
    }


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """Run every case and write tuning.json, tuning.md and tuning.png into ``out``; returns the markdown file."""
    began = time.perf_counter()
    advance = progress(len(CASES))
    results = []
    for case in CASES:
        say(f"tuning: {case.name}")
        results.append(run_case(case, plan))
        advance()
    summary = {
        "command": command,
        "plan": {"rows": plan.rows, "simulated": plan.simulated, "halving_budget": plan.halving_budget},
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "seconds": round(time.perf_counter() - began, 1),
        "cases": results,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "tuning.json").write_text(json.dumps(summary, indent=2) + "\n")
    chart(summary, out / "tuning.png")
    path = out / "tuning.md"
    path.write_text(report(summary))
    return path


def _score(value: float, metric: str) -> str:
    return f"{value:.3f}" if metric == "MAE" else f"{value:.4f}"


def table(summary: dict[str, Any]) -> list[str]:
    """One row per case: tuned (bandit, halving) beside the best and worst fixed candidate, and µs per event."""
    lines = [
        "| stream | events | metric | tuned: bandit | tuned: halving | best fixed | worst fixed "
        "| µs/event bandit · halving · fixed (mean) | bandit serves at the end |",
        "| --- | ---: | --- | ---: | ---: | --- | --- | ---: | --- |",
    ]
    for c in summary["cases"]:
        m = c["metric"]
        bandit, halving = c["tuned"]
        fixed_us = sum(r["us_per_event"] for r in c["fixed"]) / len(c["fixed"])
        lines.append(
            f"| {c['case']} | {c['events']:,} | {m} | {_score(bandit['score'], m)} | {_score(halving['score'], m)} "
            f"| {_score(c['best']['score'], m)} `{c['best']['candidate']}` "
            f"| {_score(c['worst']['score'], m)} `{c['worst']['candidate']}` "
            f"| {bandit['us_per_event']:.0f} · {halving['us_per_event']:.0f} · {fixed_us:.0f} | `{bandit['final']}` |"
        )
    return lines


def report(summary: dict[str, Any]) -> str:
    lines = [
        "# Online tuning: the tuned stream against its fixed candidates",
        "",
        f"Made by `{summary['command']}` in {summary['seconds']} s ({summary['machine']}).",
        "",
        "Each stream's search space is a grid around its model, as `[streams.S.tuning]` declares it. Every fixed",
        "candidate and the tuned model (River's selector, built as the trainer builds it: the bandit with",
        "epsilon-greedy, epsilon 0.1, burn-in 100; successive halving with its budget) learn the same events",
        "prequentially: predict, score, learn. Accuracy is higher-better, MAE lower-better. µs/event is the",
        "CPU time of predict + learn, what the trainer spends on the model per labelled event. After its",
        "burn-in the bandit teaches one candidate per event; successive halving teaches every surviving",
        "candidate until its budget leaves one. Simulator streams: one device's labelled events, cleaned with",
        "the shipped config's features as the trainer cleans them (faults, a unit change, concept drift included).",
        "",
        *table(summary),
        "",
        "![tuned against fixed candidates](tuning.png)",
        "",
        "## Every candidate",
        "",
    ]
    for c in summary["cases"]:
        m = c["metric"]
        grid = ", ".join(f"`{k}` in {v}" for k, v in c["grid"].items())
        lines += [
            f"### {c['case']} (`{c['model']}`; {grid})",
            "",
            f"| contender | {m} | µs/event |",
            "| --- | ---: | ---: |",
        ]
        for r in c["fixed"]:
            lines.append(f"| fixed `{r['candidate']}` | {_score(r['score'], m)} | {r['us_per_event']:.0f} |")
        for t in c["tuned"]:
            top = ", ".join(f"`{name}` {n:,}" for name, n in list(t["served"].items())[:3])
            lines.append(f"| **{t['selector']}** (served: {top}) | {_score(t['score'], m)} | {t['us_per_event']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def chart(summary: dict[str, Any], path: Path) -> None:
    """Per case, the score of each fixed candidate (grey; best and worst marked) and of the tuned models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = summary["cases"]
    columns = 3
    rows = -(-(len(cases) + 1) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.6 * rows))
    axes = list(grid.flat)
    for ax, c in zip(axes, cases, strict=False):
        names = [r["candidate"] for r in c["fixed"]] + [t["selector"] for t in c["tuned"]]
        values = [r["score"] for r in c["fixed"]] + [t["score"] for t in c["tuned"]]
        mark = {c["best"]["candidate"]: "tab:green", c["worst"]["candidate"]: "tab:red"}
        colors = [mark.get(r["candidate"], "0.7") for r in c["fixed"]] + ["tab:blue", "tab:purple"]
        shown = [n.replace("optimizer=optim.", "").replace(", ", "\n") for n in names]
        bars = ax.barh(shown, values, color=colors)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{c['case']} ({c['events']:,} events)", fontsize=9)
        ax.set_xlabel(c["metric"] + (" (log; lower is better)" if c["metric"] == "MAE" else ""), fontsize=8)
        if c["metric"] == "MAE":
            ax.set_xscale("log")  # a learning rate that diverges is off any linear scale
        else:
            ax.set_xlim(max(0.0, min(values) - 0.05), 1.0)
    timing = axes[len(cases)]
    width = 0.27
    for i, (label, color, pick) in enumerate(
        (
            ("tuned: bandit", "tab:blue", lambda c: c["tuned"][0]["us_per_event"]),
            ("tuned: halving", "tab:purple", lambda c: c["tuned"][1]["us_per_event"]),
            ("fixed (mean)", "0.7", lambda c: sum(r["us_per_event"] for r in c["fixed"]) / len(c["fixed"])),
        )
    ):
        timing.bar([k + (i - 1) * width for k in range(len(cases))], [pick(c) for c in cases], width, label=label,
                   color=color)  # fmt: skip
    timing.set_xticks(
        range(len(cases)), [c["case"].replace("simulator ", "sim ") for c in cases], fontsize=7, rotation=15
    )
    timing.set_ylabel("CPU µs per event (predict + learn)", fontsize=8)
    timing.set_title("time per event", fontsize=9)
    timing.legend(fontsize=7)
    for ax in axes[len(cases) + 1 :]:
        ax.axis("off")
    fig.suptitle("tuned (blue: bandit, purple: successive halving) against fixed candidates (green best, red worst)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
