"""`driftline bench drift`: the quick suite end to end (every kind of change, young and grown models, detector
families, warm against cold reset), the streams of each kind, and the reset policy's quiet spans."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftline_lab.drift import FAMILIES, Plan, policies, run, sweep, variants, young_means
from driftline_lab.drift_scores import CHANGES
from driftline_lab.drift_streams import (
    INCREMENTAL,
    Alarmer,
    Case,
    DetectorSpec,
    Policy,
    Reset,
    events,
    rose,
    rose_before,
    undisturbed,
)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("drift")
    path = run(Plan.quick(), out, "pytest", lambda _: None, lambda total: lambda: None)
    return path, json.loads((out / "drift.json").read_text())


def test_quick_suite_writes_every_file(quick: tuple[Path, dict[str, Any]]) -> None:
    path, _ = quick
    text = path.read_text()
    assert path.name == "drift.md"
    assert "## Targets" in text and "Recommended defaults" in text
    png = path.parent / "drift.png"
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000
    for v in variants(Plan.quick()):
        assert v.label in text


def test_every_variant_and_policy_is_scored(quick: tuple[Path, dict[str, Any]]) -> None:
    _, data = quick
    plan = Plan.quick()
    assert [r["variant"] for r in data["detectors"]] == [v.label for v in variants(plan)]
    assert [r["variant"] for r in data["sweep"]] == [v.label for v in sweep(plan)]
    assert {r["policy"] for r in data["recovery"]} == {*policies(plan), "River ARF"}
    for row in data["detectors"] + data["sweep"]:
        assert row["stationary"]["events"] == 2 * 2 * plan.stationary  # 2 generators x 2 models
        for kind in CHANGES:
            scored = row[kind]
            generators = sum(g in INCREMENTAL for g in plan.generators) if kind == "incremental" else 2
            assert scored["changes"] == generators * 2
            assert 0.0 <= scored["detection_rate"] <= 1.0
            assert scored["alarms_per_change"] >= 0.0
            for delay in ("median_delay", "mean_delay"):
                assert scored[delay] is None or 0 <= scored[delay] < plan.horizon
                assert (scored[delay] is None) == (scored["detected"] == 0)
    for r in data["recovery"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["streams"] == 2


def test_rising_only_never_alarms_on_a_falling_error_but_two_sided_adwin_does(
    quick: tuple[Path, dict[str, Any]],
) -> None:
    _, data = quick
    ours, raw, today = (row["stationary"] for row in data["detectors"][:3])
    # Never on an error that fell up to the alarm; two-sided ADWIN does alarm there.
    assert ours["falls_before"] == 0
    assert raw["falls_before"] > 0 and today["falls_before"] > 0
    # Deaf to falls, not to rises: the abrupt changes are found as often as two-sided ADWIN finds them.
    rates = [row["abrupt"]["detection_rate"] for row in data["detectors"][:2]]
    assert rates[0] >= rates[1] > 0.5


def test_targets_and_data_drift_are_reported(quick: tuple[Path, dict[str, Any]]) -> None:
    _, data = quick
    assert len(data["targets"]) == 8 and all(isinstance(t["met"], bool) for t in data["targets"])
    rec = data["recommended"]
    plan = Plan.quick()
    assert rec["warmup"] in {*plan.warmups, plan.warmup} and rec["debounce"] in plan.debounces
    dd = data["data_drift"]
    assert dd["majority"] and 0.0 < dd["coverage"] < 1.0
    for row in dd["rows"]:
        assert 0 <= row["found"] <= len(dd["points"]) and 0 <= row["false_alarms"] <= row["alarms"]
    undebounced = next(r for r in dd["rows"] if r["debounce"] == 0 and r["detector"] == "ADWIN")
    debounced = next(r for r in dd["rows"] if r["debounce"] == 500 and r["detector"] == "ADWIN")
    assert debounced["alarms"] < undebounced["alarms"]


def _check_kind_row(row: dict[str, Any], plan: Plan, streams: int) -> None:
    young, grown = row["young"], row["grown"]
    assert young["streams"] == streams and 0 <= young["streams_alarmed"] <= min(young["alarms"], streams)
    assert young["events"] <= streams * plan.young and (young["alarms"] == 0) == (young["per_100k"] == 0)
    assert grown["events"] == 2 * 2 * (plan.stationary - plan.young) and grown["alarms"] >= 0
    for kind in CHANGES:
        scored = row[kind]
        assert scored["detected"] <= scored["changes"] and scored["alarms_per_change"] >= 0.0
        assert (scored["median_delay"] is None) == (scored["detected"] == 0)
        assert scored["median_delay"] is None or 0 <= scored["median_delay"] < plan.horizon


def test_every_kind_of_change_and_young_models_are_scored(quick: tuple[Path, dict[str, Any]]) -> None:
    path, data = quick
    plan, kinds = Plan.quick(), data["kinds"]
    changes = sum(row["changes"] for kind in CHANGES for row in [data["detectors"][0][kind]])
    streams = changes + 2 * 2  # every change's stream, and the stationary controls
    assert [r["variant"] for r in kinds["detectors"]] == [v.label for v in variants(plan)]
    assert [r["variant"] for r in kinds["young_means"]] == [v.label for v in young_means(plan)]
    for row in kinds["detectors"] + kinds["young_means"]:
        _check_kind_row(row, plan, streams)
    # The same detector scored twice agrees with itself.
    for kind in CHANGES:
        assert kinds["detectors"][0][kind] == data["detectors"][0][kind]
    assert set(kinds["errors"]) == set(CHANGES)
    for by_model in kinds["errors"].values():
        assert set(by_model) == set(plan.models)
        assert all(0.0 <= e["error_before"] <= 1.0 and 0.0 <= e["error_after"] <= 1.0 for e in by_model.values())
    text = path.read_text()
    for heading in (
        "## Every kind of change",
        "## Young models",
        "## Detector families in the judge",
        "## Warm or cold reset",
    ):
        assert heading in text
    assert "**Delay the judge achieves, per kind**" in text
    assert all(f"{name} wrapper" in text for name in FAMILIES)


def test_warm_cold_and_arf_recovery_are_compared(quick: tuple[Path, dict[str, Any]]) -> None:
    _, data = quick
    resets = data["resets"]
    assert list(resets) == [
        "driftline warm reset",
        "driftline cold reset",
        "driftline warm reset, background dropped 1000 after its warning",
        "River ARF",
    ]
    for r in resets.values():
        assert 0.0 <= r["accuracy"] <= 1.0 and r["streams"] == 2
    assert resets["driftline cold reset"]["warm_swaps"] == 0
    assert data["defaults"]["on_alert"] in ("warm_reset", "cold_reset")


def test_incremental_and_recurring_streams_change_where_they_say() -> None:
    assert undisturbed(Case("SEA", "recurring", 0, 4000, 8000)) == 2000
    assert undisturbed(Case("SEA", "stationary", 0, 0, 8000)) == 8000
    # STAGGER's function 0 is true for about 1 event in 9, its function 1 for more than half: away and back.
    ys = [y for _, y in events(Case("STAGGER", "recurring", 0, 2000, 3000))]
    assert sum(ys[:900]) / 900 < 0.25 < 0.4 < sum(ys[1100:1900]) / 800
    assert sum(ys[2100:3000]) / 900 < 0.25
    with pytest.raises(ValueError, match="no incremental change"):
        list(events(Case("SEA", "incremental", 0, 100, 200)))
    same = list(events(Case("Hyperplane", "incremental", 0, 300, 600)))
    assert same[:300] == list(events(Case("Hyperplane", "stationary", 0, 0, 300)))[:300]  # still until the start


def test_an_alarm_is_classed_by_the_error_around_it_and_up_to_it() -> None:
    step_up = bytearray([0] * 600 + [1] * 600)
    assert rose(step_up, 599) and not rose_before(step_up, 599)
    bump = bytearray([0] * 600 + [1] * 300 + [0] * 600)  # a short rise, learned away
    assert rose_before(bump, 899) and not rose(bump, 899)
    assert not rose(bytearray([1] * 600 + [0] * 600), 599)
    assert not rose(step_up, len(step_up) - 1)  # nothing after the last event
    assert not rose_before(step_up, 100)  # nothing before the first span


class _Constant:
    def predict_one(self, x: dict[str, float]) -> int:
        return 0

    def learn_one(self, x: dict[str, float], y: int) -> None:
        pass


@dataclass(frozen=True)
class _Scripted(DetectorSpec):
    """A detector answering ``level`` at every error."""

    level: str = "drift"

    def build(self) -> Alarmer:
        return lambda error: self.level


def test_a_reset_keeps_the_new_version_quiet_for_its_warm_up_and_the_lasting_debounce() -> None:
    made: list[_Constant] = []

    def make() -> _Constant:
        made.append(_Constant())
        return made[-1]

    policy = Policy(make, Reset(_Scripted(debounce=100), warm=False, warmup=50))
    for i in range(300):
        policy.step(i, {}, 1)
    assert policy.alarms == [50, 151, 252]  # warm-up first, then max(warm-up, debounce) after each reset
    assert len(made) == 4
    lost = Policy(make, Reset(_Scripted(debounce=100), warm=False, warmup=50, lasting=False))
    for i in range(200):
        lost.step(i, {}, 1)
    assert lost.alarms == [50, 101, 152]


def test_a_warning_starts_the_background_model_that_a_drift_swaps_in() -> None:
    policy = Policy(_Constant, Reset(_Scripted(level="warning", debounce=0)))
    policy.step(0, {}, 1)
    background = policy.background
    assert background is not None
    policy.watch = lambda error: "drift"
    policy.step(1, {}, 1)
    assert policy.model is background and policy.swaps == 1 and policy.background is None


def test_an_abrupt_change_switches_the_concept() -> None:
    xs = list(events(Case("STAGGER", "abrupt", 0, 300, 600)))
    assert len(xs) == 600 + 500  # the tail, for the error after a late alarm
    assert all(isinstance(v, int | float) for x, _ in xs for v in x.values())
    positives = [y for _, y in xs]
    # STAGGER's function 0 is true for about 1 event in 9, its function 1 for more than half of them.
    assert sum(positives[:300]) / 300 < 0.25 < 0.4 < sum(positives[450:750]) / 300
