"""The report of `driftline bench chaos`: chaos.md, chaos.json and chaos.png (RSS per service over the run)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from driftline_lab.chaos_checks import ChaosResult


def write(result: ChaosResult, command: str, out: Path) -> Path:
    """Write the three files into ``out``; returns the markdown's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps({"command": command, **result.as_dict()}, indent=1))
    _chart(result, out / "chaos.png")
    path = out / "chaos.md"
    path.write_text(markdown(result, command))
    return path


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def markdown(result: ChaosResult, command: str) -> str:
    plan, d = result.plan, result.delivery
    problems = result.problems()
    p50, worst = result.first_outcome()
    unjudged = {n for s in result.samples for n in s.rss_mb if not n.startswith("kafka")} - {
        t.service for t in result.trends
    }
    lines = [
        "# Chaos: the pipeline as processes, a seeded nemesis, the invariants over the whole run",
        "",
        f"`{command}` on {platform.node() or 'this machine'} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}:"
        f" {plan.minutes:g} minutes of faults (seed {plan.seed}), {result.chaos_s:.0f} s until the fleet had"
        " finished. A three-node Kafka cluster (RF 3, min ISR 2), 2 trainers, 2 monitors, the collector with its"
        " MQTT bridge, Mosquitto and the archiver, each a process; 3 devices post labelled Phishing rows over HTTP"
        " (a 503 or a refused connection retried) and 2 publish over MQTT at QoS 1 (paho resends on reconnect).",
        "",
        f"**Verdict: {'every invariant held' if not problems else 'FAILED'}.**",
        *[f"- {p}" for p in problems],
        "",
        "## Delivered",
        "",
        "| events acknowledged | lost | duplicated | outcomes of unacknowledged events | monitors counted"
        " | not in the lake | lake rows archived twice | refused | refused but downstream | HTTP retries |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {d.acknowledged:,} | {d.missing:,} | {d.duplicates:,} | {d.unexpected:,} | {d.monitor_counted:,.0f}"
        f" | {d.archived_missing:,} | {d.archived_repeats:,} | {d.refused:,} | {d.refused_downstream:,}"
        f" | {result.http_retries:,} |",
        "",
        "The lake is at least once: a batch a killed archiver wrote but had not committed is archived again, and an"
        " event a device sent again (no answer, or a 503, though Kafka had it; a redelivered MQTT message) is twice"
        " in the events topic, whose outcome the trainer makes once. The lake's readers (`driftline export`) drop"
        " the repeats. Lost and duplicated count committed outcomes.",
        "",
        f"Final predictions on {len(result.probed_keys)} model keys x 100 rows nobody streamed, against a fresh"
        " trainer run uninterrupted over the same events topic: "
        f"{'identical' if result.probes_equal else 'DIFFERENT'}.",
        "",
        "## Faults",
        "",
        "| kind | injected |",
        "| --- | ---: |",
        *[f"| {kind} | {n} |" for kind, n in result.by_kind().items()],
        "",
        f"{len(result.injected)} faults ({sum(len(i.fault.targets) > 1 for i in result.injected)} of them two at once);"
        f" loop restarts after a Kafka error, as counted by the lives running at the end (a restart starts its count"
        f" over): trainers {result.recoveries.get('trainer', 0):.0f},"
        f" monitors {result.recoveries.get('monitor', 0):.0f}."
        " From a fault's restore to the first outcome committed after it:"
        f" p50 {_s(p50)}, max {_s(worst)}.",
        "",
        "| at | down | pause | back after | first outcome after |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for i in result.injected:
        back = _s(i.restored_s - i.struck_s) if i.restored_s is not None else f"never: {i.error}"
        lines.append(f"| {i.struck_s:.0f} s | {', '.join(i.fault.targets)} | {i.fault.pause_s:g} s | {back}"
                     f" | {_s(i.first_outcome_s)} |")  # fmt: skip
    lines += [
        "",
        "## Memory",
        "",
        f"Judged as the soak judges it (flat within 10%: end against start, and a fitted line), on each service's"
        f" samples at least {plan.warm_up_s:g} s after its (re)start; windows of {plan.window_s:g} s. Services whose"
        f" samples past the warm-ups span less than {plan.judged_s:g} s are not judged (too short): "
        f"{', '.join(sorted(unjudged)) or 'none'}.",
        "",
        "| service | start | end | end vs start | fitted rise | flat |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *[
            f"| {t.service} | {t.start_mb:.0f} MB | {t.end_mb:.0f} MB | {t.change_pct:+.1f}% | {t.fitted_pct:+.1f}%"
            f" | {'yes' if t.flat else '**no**'} |"
            for t in result.trends
        ],
        "",
        "![resident memory per service over the run, faults marked](chaos.png)",
        "",
        "## Schedule",
        "",
        f"Drawn from seed {plan.seed} (`--seed {plan.seed}` replays it): gaps {plan.spacing.gap_s[0]:g}-"
        f"{plan.spacing.gap_s[1]:g} s, pauses {plan.spacing.pause_s[0]:g}-{plan.spacing.pause_s[1]:g} s, two at once"
        f" with chance {plan.spacing.pair_chance:g}. A fault waits for its targets (and, for a Kafka node, every"
        " node) to be up again.",
        "",
        "```",
        *[f"{f.at_s:7.1f} s  {' + '.join(f.targets):<28} {f.pause_s:g} s" for f in result.faults],
        "```",
        "",
    ]
    return "\n".join(lines)


def _chart(result: ChaosResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(10, 5))
    minutes = [s.t / 60 for s in result.samples]
    services = sorted({name for s in result.samples for name in s.rss_mb})
    for name in services:
        values = [s.rss_mb.get(name, float("nan")) for s in result.samples]
        axis.plot(minutes, values, label=name, linestyle=":" if name.startswith("kafka") else "-", linewidth=1)
    for i in result.injected:
        axis.axvline(i.struck_s / 60, color="red", alpha=0.25, linewidth=0.8)
    axis.set_ylabel("resident memory (MB)")
    axis.set_xlabel("minutes since the fleet began (red: a fault)")
    axis.set_title(f"chaos, seed {result.plan.seed}: RSS per service (gaps: the process was down)")
    axis.set_ylim(bottom=0)
    axis.legend(fontsize=7, loc="upper left", ncols=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
