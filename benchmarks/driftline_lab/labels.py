"""`driftline bench labels`: what a label budget buys, and how far the confidence estimate of accuracy is off.

Pure in-process River, each stream in one pass, the trainer's own pieces doing the choosing and the
estimating:

* **Label budget.** A model predicts every event (prequential accuracy over all of them) and learns
  only the events whose labels were asked for: by the trainer's rule
  (:class:`~driftline.trainer.label_requests.BudgetedUncertainty`, fed the confidence of each
  prediction) or at random (each event with probability ``budget``, seeded), at budgets from 1%
  to 100%. Labels come at once here; in the service they come later, which delays learning alike for both.
* **Accuracy estimate, calibrated.** Every classification preset predicts then learns ``labelled``
  events of a stationary stream (River's Hyperplane, SEA and Agrawal; Phishing shuffled), each
  labelled prediction feeding the monitor's calibration, then predicts ``window`` events without
  labels: the estimate of those predictions, raw (their mean confidence) and calibrated by each of
  :data:`~driftline.monitor.estimate.METHODS` (isotonic, Platt, histogram binning; the monitor's
  :class:`~driftline.monitor.estimate.Calibration`), against the accuracy they realised. This is
  the measurement that chose isotonic regression (:func:`calibration_error`).
* **Accuracy estimate, over time.** A model learns every label, ``delay`` events after its event
  (labels come late, which is when the estimate is wanted: until they come, the model cannot react
  to a change either), and the label calibrates the estimate then; after each event the monitor's
  estimator (:class:`~driftline.monitor.estimate.ConfidenceAccuracy` over the last ``window``
  predictions, raw and calibrated) is set against the accuracy those same ``window`` predictions
  realised. Its error is the absolute difference, on stationary streams and on streams with an
  abrupt concept change (where the error is also reported for the ``2 * window`` events from the
  change on, with how many events pass until it stays within 3 points again).

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
from driftline.monitor.estimate import CALIBRATION_WINDOWS, METHODS, MIN_LABELS, Calibration, ConfidenceAccuracy
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
    #: Labels first, then a stretch without: every classification preset on stationary streams.
    calibration_models: tuple[str, ...] = ("logistic", "hoeffding", "forest", "naive_bayes", "softmax")
    calibration_streams: tuple[str, ...] = ("Hyperplane", "SEA", "Agrawal", "Phishing")
    calibration_seeds: int = 3
    labelled: int = 5000  # events with labels (learned, calibrating) before the stretch without
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
            calibration_models=("logistic",),
            calibration_streams=("SEA", "Phishing"),
            calibration_seeds=1,
            labelled=1000,
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


#: Within this of the realised accuracy, an estimate counts as back after a change.
BACK_WITHIN = 0.03


def _back_after(errors: list[tuple[int, float]], change: int | None) -> int | None:
    """Events from the change until the error is within :data:`BACK_WITHIN` for good (0: never off; None: no
    change, or still off at the end)."""
    if change is None:
        return None
    off = [i for i, e in errors if i >= change and abs(e) > BACK_WITHIN]
    if not off:
        return 0
    return None if off[-1] == errors[-1][0] else off[-1] + 1 - change


def estimate_error(name: str, seed: int, model_name: str, length: int, window: int, delay: int) -> list[dict]:
    """The confidence estimate, raw and calibrated, against the realised accuracy of the same last ``window``
    predictions, each event's label learned (and calibrating) ``delay`` events later."""
    data, change = stream(name, seed, length)
    model = build_model(model_name)
    estimate = ConfidenceAccuracy(window)
    recent: deque[bool] = deque(maxlen=window)
    waiting: deque[tuple[dict[str, Any], Any, Any, dict[Any, float]]] = deque()
    errors: dict[str, list[tuple[int, float]]] = {"raw": [], "calibrated": []}  # (event, estimate minus realised)
    trace: list[tuple[int, float, float, float | None]] = []
    for i, (x, y) in enumerate(data):
        prediction, proba = _predict(model, x)
        estimate.update(prediction, proba)
        recent.append(prediction == y)
        waiting.append((x, y, prediction, proba))
        if len(waiting) > delay:
            x0, y0, prediction0, proba0 = waiting.popleft()
            model.learn_one(x0, y0)
            estimate.learn(prediction0, proba0, prediction0 == y0)
        value, calibrated = estimate.get(), estimate.calibrated()
        if len(recent) == window and value is not None:
            realised = sum(recent) / window
            errors["raw"].append((i, value - realised))
            if calibrated is not None:
                errors["calibrated"].append((i, calibrated - realised))
            if i % TRACE_EVERY == 0:
                kept = None if calibrated is None else round(calibrated, 4)
                trace.append((i, round(value, 4), round(realised, 4), kept))
    row: dict[str, Any] = {"stream": name, "seed": seed, "model": model_name, "drift": change is not None,
                           "change": change, "trace": trace if seed == 0 and change is not None else []}  # fmt: skip
    for kind, found in errors.items():
        prefix = "" if kind == "raw" else "calibrated_"
        after = [e for i, e in found if change is not None and change <= i < change + 2 * window]
        row |= {
            f"{prefix}mae": statistics.fmean(abs(e) for _, e in found) if found else None,
            f"{prefix}bias": statistics.fmean(e for _, e in found) if found else None,
            f"{prefix}max": max(abs(e) for _, e in found) if found else None,
            f"{prefix}mae_after_change": statistics.fmean(abs(e) for e in after) if after else None,
            f"{prefix}max_after_change": max(abs(e) for e in after) if after else None,
            f"{prefix}back_after": _back_after(found, change),
        }
    return [row]


Unit = tuple[Callable[..., list[dict]], tuple[Any, ...]]


def calibration_error(
    name: str, seed: int, model_name: str, labelled: int, unlabelled: int, calibration_window: int
) -> list[dict]:
    """Labels first, then a stretch without: each method's estimate for the unlabelled predictions (made from
    their confidence and the labelled ones before) against the accuracy they realised once labels are known.

    The model predicts then learns each of the first ``labelled`` events (the calibration gets each labelled
    prediction), then only predicts the next ``unlabelled`` (no label, nothing learned); the estimate's window
    is those ``unlabelled`` predictions. A real stream is shuffled by the seed (stationary by construction); if
    it is shorter, its last fifth goes without labels.
    """
    if name in REAL:
        data, _ = stream(name, seed, labelled + unlabelled)
        random.Random(seed).shuffle(data)
        if len(data) < labelled + unlabelled:
            unlabelled = len(data) // 5
            labelled = len(data) - unlabelled
    else:
        data, _ = stream(f"{name} stationary", seed, labelled + unlabelled)
    model = build_model(model_name)
    estimates = {method: ConfidenceAccuracy(unlabelled, calibration_window) for method in METHODS}
    for method, estimate in estimates.items():
        estimate.calibration = Calibration(calibration_window, method)
    right = 0
    began = time.perf_counter()
    for i, (x, y) in enumerate(data[: labelled + unlabelled]):
        prediction, proba = _predict(model, x)
        if i < labelled:
            for estimate in estimates.values():
                estimate.learn(prediction, proba, prediction == y)
            model.learn_one(x, y)
        else:
            right += prediction == y
            for estimate in estimates.values():
                estimate.update(prediction, proba)
    realised = right / unlabelled
    raw = estimates["isotonic"].get()
    row = {"stream": name, "seed": seed, "model": model_name, "labelled": labelled, "unlabelled": unlabelled,
           "realised": realised, "raw": raw, "seconds": time.perf_counter() - began}  # fmt: skip
    for method, estimate in estimates.items():
        row[method] = estimate.calibrated()
    return [row]


def units(plan: Plan) -> list[Unit]:
    work: list[Unit] = []
    for seed in range(plan.seeds):
        for model in plan.models:
            # A real stream is the same every seed: only the choosers' seeds change.
            work += [(budget_curve, (s, seed, model, plan.budgets, plan.length)) for s in plan.budget_streams]
            estimated = [s for s in plan.estimate_streams if seed == 0 or s not in REAL]
            work += [(estimate_error, (s, seed, model, plan.length, plan.window, plan.delay)) for s in estimated]
    calibrating = CALIBRATION_WINDOWS * plan.window
    for seed in range(plan.calibration_seeds):
        for model in plan.calibration_models:
            work += [(calibration_error, (s, seed, model, plan.labelled, plan.window, calibrating))
                     for s in plan.calibration_streams]  # fmt: skip
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
    calibrations = [r for r in results if "realised" in r]
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
            row = {"stream": name, "model": model, "drift": runs[0]["drift"], "runs": len(runs),
                   "trace": next((r["trace"] for r in runs if r["trace"]), []),
                   "change": runs[0]["change"]}  # fmt: skip
            for prefix in ("", "calibrated_"):
                row |= {
                    f"{prefix}mae": _mean(r[f"{prefix}mae"] for r in runs if r[f"{prefix}mae"] is not None),
                    f"{prefix}bias": _mean(r[f"{prefix}bias"] for r in runs if r[f"{prefix}bias"] is not None),
                    f"{prefix}max": max(
                        (r[f"{prefix}max"] for r in runs if r[f"{prefix}max"] is not None), default=None
                    ),
                    f"{prefix}mae_after_change": _mean(
                        r[f"{prefix}mae_after_change"] for r in runs if r[f"{prefix}mae_after_change"] is not None
                    ),
                    f"{prefix}max_after_change": max(
                        (r[f"{prefix}max_after_change"] for r in runs if r[f"{prefix}max_after_change"] is not None),
                        default=None,
                    ),
                    # The longest of the runs; None if one run's estimate never came back.
                    f"{prefix}back_after": None
                    if any(r[f"{prefix}back_after"] is None for r in runs)
                    else max(r[f"{prefix}back_after"] for r in runs),
                }
            estimate_rows.append(row)
    calibration_rows = []
    for model in plan.calibration_models:
        for name in plan.calibration_streams:
            runs = [r for r in calibrations if (r["stream"], r["model"]) == (name, model)]
            row = {"model": model, "stream": name, "runs": len(runs), "labelled": runs[0]["labelled"],
                   "unlabelled": runs[0]["unlabelled"], "realised": _mean(r["realised"] for r in runs)}  # fmt: skip
            for method in ("raw", *METHODS):
                found = [abs(r[method] - r["realised"]) for r in runs if r[method] is not None]
                row[method] = {"mae": _mean(found), "max": max(found, default=None)}
            calibration_rows.append(row)
    return {"plan": asdict(plan), "budget": budget_rows, "estimate": estimate_rows, "calibration": calibration_rows}


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def report(plan: Plan, s: dict[str, Any], command: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    s["machine"] = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    # One line per trace point, not per number: the traces are most of the file.
    number = r"\s+([-\d.e]+|null),"
    text = re.sub(rf"\[{number * 3}\s+([-\d.e]+|null)\s+\]", r"[\1, \2, \3, \4]", json.dumps(s, indent=1))
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
        "### Labels first, then a stretch without: raw against calibrated",
        "",
        f"Each classification preset predicts then learns {plan.labelled:,} labelled events of a stationary stream "
        f"(each labelled prediction calibrates), then predicts {plan.window:,} events without labels; the estimate "
        "over those predictions (raw: their mean confidence; calibrated: their confidence calibrated on the last "
        f"{CALIBRATION_WINDOWS * plan.window:,} labelled predictions, by isotonic regression, Platt scaling or "
        "10-bin histogram binning) against the accuracy they realised once their labels are known. "
        "Phishing has 1,250 events: shuffled by the seed, its last fifth without labels. "
        f"|estimate − realised| in points of accuracy, mean / max over {plan.calibration_seeds} seed(s).",
        "",
        "| model | stream | realised | raw | isotonic | Platt | histogram |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in s.get("calibration", []):
        cells = [f"{_pct(row[m]['mae'])} / {_pct(row[m]['max'])}" for m in ("raw", *METHODS)]
        lines.append(f"| {row['model']} | {row['stream']} | {_pct(row['realised'])} | " + " | ".join(cells) + " |")
    if s.get("calibration"):
        within = {m: sum(1 for r in s["calibration"] if r[m]["max"] is not None and r[m]["max"] <= BACK_WITHIN)
                  for m in ("raw", *METHODS)}  # fmt: skip
        lines += [
            "",
            f"Cells within {100 * BACK_WITHIN:.0f} points on every seed, of {len(s['calibration'])}: "
            + ", ".join(f"{m} {n}" for m, n in within.items())
            + ". The monitor calibrates by isotonic regression.",
        ]
    lines += [
        "",
        "### Over time, labels late, with and without a change",
        "",
        f"The estimate (mean probability of the predicted class over the last {plan.window:,} predictions, raw, and "
        f"calibrated once {MIN_LABELS} labels came) against "
        f"the accuracy those predictions realised, once per event after the first {plan.window:,}; each label "
        f"learned {plan.delay:,} events after its event; "
        "points of accuracy, raw / calibrated. Bias: estimate minus realised (positive: the estimate promises too "
        f"much). After the change: mean and max error over the {2 * plan.window:,} events from it; back after: "
        f"events from the change until the error stays within {100 * BACK_WITHIN:.0f} points (longest run; never: "
        "not by the end).",
        "",
        "| stream | drift | model | runs | mean abs. error | bias | max abs. error "
        "| after the change: mean | max | back after |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in s["estimate"]:

        def pair(key: str, signed: bool = False, row: dict[str, Any] = row) -> str:
            a, b = row[key], row[f"calibrated_{key}"]
            if signed:
                return " / ".join("" if x is None else f"{100 * x:+.1f}" for x in (a, b))
            return f"{_pct(a)} / {_pct(b)}"

        if row["drift"]:
            backs = [row["back_after"], row["calibrated_back_after"]]
            back = " / ".join("never" if b is None else f"{b:,}" for b in backs)
            after = f"{pair('mae_after_change')} | {pair('max_after_change')} | {back}"
        else:
            after = " | | "
        lines.append(
            f"| {row['stream']} | {'abrupt' if row['drift'] else 'none'} | {row['model']} | {row['runs']} | "
            f"{pair('mae')} | {pair('bias', True)} | {pair('max')} | {after} |"
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
        calibrated = [float("nan") if len(t) < 4 or t[3] is None else t[3] for t in row["trace"]]
        left.plot(xs, calibrated, color=f"C{i}", linewidth=1.2, linestyle=":", label="estimated, calibrated")
    if drifting:
        left.axvline(drifting[0]["change"], color="0.5", linestyle=":", linewidth=1)
    left.set_xlabel("event (dotted: the concept change)")
    left.set_ylabel(f"accuracy of the last {s['plan']['window']:,} predictions")
    left.set_title("realised (solid) against estimated: raw (dashed), calibrated (dotted); seed 0")
    left.legend(fontsize=6.5, loc="lower left")
    left.grid(alpha=0.3)
    rows = s["estimate"]
    names = [f"{r['stream']}, {r['model']}" for r in rows]
    at = list(range(len(rows)))
    raw = right.barh([y - 0.2 for y in at], [100 * r["mae"] for r in rows], height=0.4,
                     color=["tab:red" if r["drift"] else "tab:blue" for r in rows], label="raw")  # fmt: skip
    light = ["salmon" if r["drift"] else "lightskyblue" for r in rows]
    calibrated = right.barh([y + 0.2 for y in at], [100 * (r["calibrated_mae"] or 0) for r in rows], height=0.4,
                            color=light, label="calibrated")  # fmt: skip
    right.bar_label(raw, fmt="%.1f", fontsize=6, padding=2)
    right.bar_label(calibrated, fmt="%.1f", fontsize=6, padding=2)
    right.set_yticks(at, names)
    right.invert_yaxis()
    right.tick_params(axis="y", labelsize=7)
    right.legend(fontsize=7, loc="lower right")
    right.set_xlabel("mean absolute error, points (dark: raw, light: calibrated; red: abrupt change)")
    right.set_title("error of the estimate")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
