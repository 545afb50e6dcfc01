"""`driftline bench labels`: what a label budget buys, and how far the confidence estimate of accuracy is off.

Pure in-process River, each stream in one pass, the trainer's own pieces doing the choosing and the
estimating:

* **Label budget.** A model predicts every event (prequential accuracy over all of them) and learns
  only the events whose labels were asked for: by the trainer's rule
  (:class:`~driftline.trainer.label_requests.BudgetedUncertainty`, fed the confidence of each
  prediction) or at random (each event with probability ``budget``, seeded), at budgets from 1%
  to 100%. Labels come at once here; in the service they come later, which delays learning alike for both.
* **Accuracy estimate.** A model learns every label, ``delay`` events after its event (labels come
  late, which is when the estimate is wanted: until they come, the model cannot react to a
  change either); after each event the monitor's estimator
  (:class:`~driftline.monitor.estimate.ConfidenceAccuracy`, the mean probability of the predicted
  class over the last ``window`` predictions) is set against the accuracy those same ``window``
  predictions realised. Its error is the absolute difference, on stationary streams and on streams
  with an abrupt concept change (where the error is also reported for the ``2 * window`` events
  from the change on).

Streams: River's Phishing and Bananas (real, in River's package), and River's SEA, Agrawal and
Hyperplane generators, stationary or with an abrupt change halfway (:mod:`driftline_lab.drift_streams`).
Writes labels.json, labels.md, labels.png (accuracy against budget) and labels-estimate.png.
"""

from __future__ import annotations

import json
import platform
import random
import re
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from river import datasets

from driftline.learning.slot import ModelInput
from driftline.modelspec import build_model
from driftline.monitor.estimate import ConfidenceAccuracy
from driftline.rules.labels import confidence_of
from driftline.trainer.label_requests import BudgetedUncertainty
from driftline_lab.drift_streams import Case, events

REAL = {"Phishing": datasets.Phishing, "Bananas": datasets.Bananas}
CHOOSERS = ("uncertainty", "random")
TRACE_EVERY = 50  # events between the points of an estimate's trace


@dataclass
class Plan:
    """What one run measures; :meth:`quick` is the smoke run (seconds)."""

    budgets: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 1.0)
    budget_streams: tuple[str, ...] = ("Phishing", "Bananas", "SEA abrupt", "Agrawal abrupt", "Hyperplane abrupt")
    estimate_streams: tuple[str, ...] = (
        "Phishing", "Bananas", "SEA stationary", "Agrawal stationary", "Hyperplane stationary",
        "SEA abrupt", "Agrawal abrupt", "Hyperplane abrupt",
    )  # fmt: skip
    models: tuple[str, ...] = ("logistic", "hoeffding")
    seeds: int = 5
    length: int = 20_000  # events of a generated stream (a real one has what it has)
    window: int = 1000  # the estimate's window, as the monitor's default
    delay: int = 500  # events between an event and its label in the estimate's runs
    jobs: int = 2

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            budgets=(0.05, 1.0),
            budget_streams=("Phishing", "SEA abrupt"),
            estimate_streams=("Phishing", "SEA stationary", "SEA abrupt"),
            models=("logistic",),
            seeds=1,
            length=3000,
            window=200,
            delay=50,
            jobs=1,
        )


def stream(name: str, seed: int, length: int) -> tuple[list[tuple[dict[str, Any], Any]], int | None]:
    """The events of a named stream, features as the trainer's models get them, and where its change starts.

    The streams are numbers only, so every model gets the same dict (``Encoded.numbers`` is ``Encoded.text``).
    """
    if name in REAL:
        inputs = ModelInput()
        return [(inputs.encode(x).numbers, y) for x, y in islice(REAL[name](), length)], None
    generator, kind = name.split()
    case = Case(generator, kind, seed, start=length // 2, length=length)
    return list(islice(events(case), length)), None if kind == "stationary" else case.start


def _predict(model: Any, x: dict[str, Any]) -> tuple[Any, dict[Any, float]]:
    proba = model.predict_proba_one(x)
    return (max(proba, key=proba.__getitem__) if proba else None), proba


def budget_curve(name: str, seed: int, model_name: str, budgets: tuple[float, ...], length: int) -> list[dict]:
    """Prequential accuracy of a model learning only the labels each chooser asked for, per budget."""
    data, _ = stream(name, seed, length)
    rows = []
    for budget in budgets:
        for chooser in CHOOSERS:
            model = build_model(model_name)
            asking = BudgetedUncertainty(budget, seed=f"{name}/{seed}")
            coin = random.Random(seed)
            right = asked = 0
            for x, y in data:
                prediction, proba = _predict(model, x)
                right += prediction == y
                if chooser == "uncertainty":
                    ask = asking.ask(confidence_of(prediction, proba))
                else:
                    ask = budget >= 1 or coin.random() < budget
                if ask:
                    model.learn_one(x, y)
                    asked += 1
            rows.append({"stream": name, "seed": seed, "model": model_name, "budget": budget, "chooser": chooser,
                         "accuracy": right / len(data), "labels": asked, "events": len(data)})  # fmt: skip
    return rows


def estimate_error(name: str, seed: int, model_name: str, length: int, window: int, delay: int) -> list[dict]:
    """The confidence estimate against the realised accuracy of the same last ``window`` predictions, each
    event's label learned ``delay`` events later."""
    data, change = stream(name, seed, length)
    model = build_model(model_name)
    estimate = ConfidenceAccuracy(window)
    recent: deque[bool] = deque(maxlen=window)
    waiting: deque[tuple[dict[str, Any], Any]] = deque()
    errors: list[tuple[int, float]] = []  # (event index, estimate minus realised)
    trace: list[tuple[int, float, float]] = []
    for i, (x, y) in enumerate(data):
        prediction, proba = _predict(model, x)
        estimate.update(prediction, proba)
        recent.append(prediction == y)
        waiting.append((x, y))
        if len(waiting) > delay:
            model.learn_one(*waiting.popleft())
        value = estimate.get()
        if len(recent) == window and value is not None:
            realised = sum(recent) / window
            errors.append((i, value - realised))
            if i % TRACE_EVERY == 0:
                trace.append((i, round(value, 4), round(realised, 4)))
    after = [e for i, e in errors if change is not None and change <= i < change + 2 * window]
    return [
        {
            "stream": name,
            "seed": seed,
            "model": model_name,
            "drift": change is not None,
            "change": change,
            "mae": statistics.fmean(abs(e) for _, e in errors),
            "bias": statistics.fmean(e for _, e in errors),
            "max": max(abs(e) for _, e in errors),
            "mae_after_change": statistics.fmean(abs(e) for e in after) if after else None,
            "trace": trace if seed == 0 and change is not None else [],  # the plot draws drifting streams
        }
    ]


Unit = tuple[Callable[..., list[dict]], tuple[Any, ...]]


def units(plan: Plan) -> list[Unit]:
    work: list[Unit] = []
    for seed in range(plan.seeds):
        for model in plan.models:
            # A real stream is the same every seed: only the choosers' seeds change.
            work += [(budget_curve, (s, seed, model, plan.budgets, plan.length)) for s in plan.budget_streams]
            estimated = [s for s in plan.estimate_streams if seed == 0 or s not in REAL]
            work += [(estimate_error, (s, seed, model, plan.length, plan.window, plan.delay)) for s in estimated]
    return work


def execute(work: list[Unit], jobs: int, advance: Callable[[], None]) -> list[dict]:
    results: list[dict] = []
    if jobs <= 1:
        for fn, args in work:
            results += fn(*args)
            advance()
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for future in as_completed([pool.submit(fn, *args) for fn, args in work]):
            results += future.result()
            advance()
    return results


def run(plan: Plan, out: Path, command: str, say: Callable[[str], None], progress) -> Path:
    """Run both measurements and write labels.json, labels.md and the two plots into ``out``; returns the markdown."""
    began = time.perf_counter()
    work = units(plan)
    say(f"label benchmark: {len(work)} units of work on {plan.jobs} process(es)")
    results = execute(work, plan.jobs, progress(len(work)))
    summary = score(plan, results)
    summary["seconds"] = round(time.perf_counter() - began, 1)
    return report(plan, summary, command, out)


def _mean(xs: Iterator[float] | list[float]) -> float | None:
    xs = list(xs)
    return statistics.fmean(xs) if xs else None


def score(plan: Plan, results: list[dict]) -> dict[str, Any]:
    """Means over seeds: accuracy per stream, model, budget and chooser; estimate error per stream and model."""
    curves = [r for r in results if "chooser" in r]
    estimates = [r for r in results if "mae" in r]
    budget_rows = []
    for name in plan.budget_streams:
        for model in plan.models:
            row: dict[str, Any] = {"stream": name, "model": model, "by_budget": {}}
            for budget in plan.budgets:
                cell = {}
                for chooser in CHOOSERS:
                    runs = [r for r in curves if (r["stream"], r["model"], r["budget"], r["chooser"]) ==
                            (name, model, budget, chooser)]  # fmt: skip
                    cell[chooser] = _mean(r["accuracy"] for r in runs)
                    cell[f"{chooser}_label_share"] = _mean(r["labels"] / r["events"] for r in runs)
                row["by_budget"][str(budget)] = cell
            budget_rows.append(row)
    estimate_rows = []
    for name in plan.estimate_streams:
        for model in plan.models:
            runs = [r for r in estimates if (r["stream"], r["model"]) == (name, model)]
            estimate_rows.append({
                "stream": name, "model": model, "drift": runs[0]["drift"], "runs": len(runs),
                "mae": _mean(r["mae"] for r in runs), "bias": _mean(r["bias"] for r in runs),
                "max": max(r["max"] for r in runs),
                "mae_after_change": _mean(r["mae_after_change"] for r in runs if r["mae_after_change"] is not None),
                "trace": next((r["trace"] for r in runs if r["trace"]), []), "change": runs[0]["change"],
            })  # fmt: skip
    return {"plan": asdict(plan), "budget": budget_rows, "estimate": estimate_rows}


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def report(plan: Plan, s: dict[str, Any], command: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    s["machine"] = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    # One line per trace point, not per number: the traces are most of the file.
    text = re.sub(r"\[\s+([-\d.e]+),\s+([-\d.e]+),\s+([-\d.e]+)\s+\]", r"[\1, \2, \3]", json.dumps(s, indent=1))
    (out / "labels.json").write_text(text + "\n")
    budget_chart(s, out / "labels.png")
    estimate_chart(s, out / "labels-estimate.png")
    budgets = plan.budgets
    lines = [
        "# Label requests and the accuracy estimate",
        "",
        f"`{command}` ({s['seconds']:.0f} s; {s['machine']}). In process, no Kafka: "
        "`benchmarks/driftline_lab/labels.py` says what is measured and how.",
        "",
        "## Accuracy against the label budget",
        "",
        f"Prequential accuracy (%) over every event, the model learning only the labels asked for: by the "
        f"trainer's rule (uncertainty, budgeted) / at random at the same budget. Mean of {plan.seeds} seed(s); "
        f"generated streams have {plan.length:,} events (the change, if any, halfway).",
        "",
        "| stream | model | " + " | ".join(f"{b:.0%}" for b in budgets) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in budgets) + " |",
    ]
    for row in s["budget"]:
        cells = [f"{_pct(c['uncertainty'])} / {_pct(c['random'])}" for c in row["by_budget"].values()]
        lines.append(f"| {row['stream']} | {row['model']} | " + " | ".join(cells) + " |")
    cells = [(row, b, c) for row in s["budget"] for b, c in zip(budgets, row["by_budget"].values(), strict=True)]
    cells_by_budget = [(b, c) for _, b, c in cells]
    shares = sorted((c["uncertainty_label_share"] / b, row["stream"], row["model"], b) for row, b, c in cells if b < 1)
    if shares:
        least = shares[0]
        lines += [
            "",
            f"Labels the rule asked for, as a share of its budget: {least[0]:.0%} to {shares[-1][0]:.0%} (never more: "
            f"the budget is a cap); the least on {least[1]} with {least[2]} at {least[3]:.0%}"
            + "".join(f", then {x:.0%} ({st}, {m}, {b:.0%})" for x, st, m, b in shares[1:2])
            + "".join(f", the rest from {x:.0%}" for x, *_ in shares[2:3])
            + ".",
        ]
    wins = [c["uncertainty"] - c["random"] for b, c in cells_by_budget if b < 1]
    if wins:
        better = sum(w > 0 for w in wins)
        lines.append(
            f"The rule beat random labels in {better} of {len(wins)} stream, model and budget cells below 100%; "
            f"mean difference {100 * statistics.fmean(wins):+.1f} points."
        )
    lines += [
        "",
        "![accuracy against label budget](labels.png)",
        "",
        "## Error of the confidence estimate",
        "",
        f"The estimate (mean probability of the predicted class over the last {plan.window:,} predictions) against "
        f"the accuracy those predictions realised, once per event after the first {plan.window:,}; each label "
        f"learned {plan.delay:,} events after its event; "
        "points of accuracy. Bias: estimate minus realised (positive: the estimate promises too much).",
        "",
        "| stream | drift | model | runs | mean abs. error | bias | max abs. error | after the change |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in s["estimate"]:
        lines.append(
            f"| {row['stream']} | {'abrupt' if row['drift'] else 'none'} | {row['model']} | {row['runs']} | "
            f"{_pct(row['mae'])} | {100 * row['bias']:+.1f} | {_pct(row['max'])} | {_pct(row['mae_after_change'])} |"
        )
    lines += ["", "![the confidence estimate against realised accuracy](labels-estimate.png)", ""]
    path = out / "labels.md"
    path.write_text("\n".join(lines))
    return path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def budget_chart(s: dict[str, Any], path: Path) -> None:
    """Accuracy against budget per stream: the rule solid, random dashed, one panel per model."""
    plt = _plt()
    models = list(dict.fromkeys(row["model"] for row in s["budget"]))
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.6), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        for i, row in enumerate(r for r in s["budget"] if r["model"] == model):
            budgets = [float(b) for b in row["by_budget"]]
            for chooser, style in (("uncertainty", "-o"), ("random", "--x")):
                values = [c[chooser] for c in row["by_budget"].values()]
                label = f"{row['stream']} ({chooser})"
                ax.plot(budgets, values, style, color=f"C{i}", label=label, markersize=4, linewidth=1.3)
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:.0%}" for b in budgets])
        ax.set_xlabel("label budget (share of events labelled)")
        ax.set_ylabel("prequential accuracy")
        ax.set_title(f"{model}: asked by uncertainty (solid) or at random (dashed)")
        ax.legend(fontsize=6.5, loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def estimate_chart(s: dict[str, Any], path: Path) -> None:
    """Left: the estimate against realised accuracy over drifting streams; right: mean absolute error per stream."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    drifting = [r for r in s["estimate"] if r["drift"] and r["trace"]][:4]
    for i, row in enumerate(drifting):
        xs = [t[0] for t in row["trace"]]
        left.plot(xs, [t[2] for t in row["trace"]], color=f"C{i}", linewidth=1.2,
                  label=f"{row['stream']}, {row['model']}: realised")  # fmt: skip
        left.plot(xs, [t[1] for t in row["trace"]], color=f"C{i}", linewidth=1.2, linestyle="--",
                  label="estimated from confidence")  # fmt: skip
    if drifting:
        left.axvline(drifting[0]["change"], color="0.5", linestyle=":", linewidth=1)
    left.set_xlabel("event (dotted: the concept change)")
    left.set_ylabel(f"accuracy of the last {s['plan']['window']:,} predictions")
    left.set_title("realised (solid) against estimated (dashed), seed 0")
    left.legend(fontsize=6.5, loc="lower left")
    left.grid(alpha=0.3)
    rows = s["estimate"]
    names = [f"{r['stream']}, {r['model']}" for r in rows]
    bars = right.barh(
        names, [100 * r["mae"] for r in rows], color=["tab:red" if r["drift"] else "tab:blue" for r in rows]
    )
    right.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    right.invert_yaxis()
    right.tick_params(axis="y", labelsize=7)
    right.set_xlabel("mean absolute error, accuracy points (red: abrupt concept change)")
    right.set_title("error of the estimate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
