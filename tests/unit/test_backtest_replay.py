"""The backtest without a broker: ordering of lake rows, label joins, the time split, errors."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from river import datasets, evaluate, metrics

from driftline.backtest.core import Backtest, check_specs
from driftline.backtest.rows import EmptyReplay, EventRow, LabelRow, ordered
from driftline.cli import main
from driftline.config.streams import StreamConfig
from driftline.contracts import LabelEvent, SensorEvent
from driftline.lake import LABELS_DIR, Split, to_frame, to_label_frame, write_frame
from driftline.modelspec import ModelSpecError, build_model

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LOGISTIC = "preprocessing.StandardScaler | linear_model.LogisticRegression"
PHISHING = list(datasets.Phishing())


def event(
    i: int, x: dict[str, Any] | None = None, y: Any = None, at: float | None = None, device: str = "d1"
) -> SensorEvent:
    ts = T0 + timedelta(seconds=i if at is None else at)
    features = x if x is not None else {"a": float(i)}
    return SensorEvent(event_id=f"e{i}", device_id=device, stream="s", ts=ts, features=features, label=y)


def label(i: int, y: Any, at: float, device: str = "d1") -> LabelEvent:
    return LabelEvent(stream="s", device_id=device, event_id=f"e{i}", label=y, ts=T0 + timedelta(seconds=at))


def frames(
    events: list[tuple[SensorEvent, int, int]], labels: list[tuple[LabelEvent, int, int]] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The lake's frames of (message, partition, offset) records, as the archiver builds them."""
    return (
        to_frame((b"s", e.to_bytes(), p, o) for e, p, o in events),
        to_label_frame((b"s", lab.to_bytes(), p, o) for lab, p, o in labels),
    )


def ids(rows: list[EventRow | LabelRow]) -> list[str]:
    return [("L:" if isinstance(r, LabelRow) else "") + r.event_id for r in rows]


def phishing_stream() -> StreamConfig:
    # Features in the dataset's own order, without ranges: cleaning leaves the values as they are.
    return StreamConfig(task="binary", model=LOGISTIC, features={n: {"missing": "keep"} for n in PHISHING[0][0]})


def test_events_replay_in_event_time_order_ties_by_partition_then_offset() -> None:
    # Kafka order differs from event order; e1, e2 and e3 share an instant on two partitions.
    records = [(event(4), 0, 0), (event(1, at=1), 1, 7), (event(3, at=1), 0, 9), (event(2, at=1), 0, 3),
               (event(0), 2, 0)]  # fmt: skip
    replay = ordered(*frames(records), stream="s")
    assert ids(replay.rows) == ["e0", "e2", "e3", "e1", "e4"]


def test_a_duplicate_is_replayed_once_the_first_in_order() -> None:
    records = [(event(0), 0, 0), (event(1, y=True), 0, 1), (event(1, y=False, at=5), 0, 2), (event(2), 0, 3)]
    replay = ordered(*frames(records), stream="s")
    assert ids(replay.rows) == ["e0", "e1", "e2"] and replay.duplicates == 1 and replay.events == 3
    assert replay.rows[1].label is True


def test_a_late_label_comes_at_its_time_after_that_instants_events_and_never_before_its_event() -> None:
    records = [(event(i), 0, i) for i in range(5)]
    labels = [
        (label(0, True, at=3), 0, 0),  # at e3's instant: after e3
        (label(4, False, at=2), 0, 1),  # stamped before its event: waits for it
        (label(9, True, at=1.5), 0, 2),  # no such event: replayed anyway (the core counts it unmatched)
    ]
    replay = ordered(*frames(records, labels), stream="s")
    assert ids(replay.rows) == ["e0", "e1", "L:e9", "e2", "e3", "L:e0", "e4", "L:e4"]
    assert replay.labels == 3


def test_parts_are_cut_by_count_oldest_first() -> None:
    replay = ordered(*frames([(event(i), 0, 9 - i) for i in range(10)]), Split(0.6, 0.2, 0.2), stream="s")
    assert [r.part for r in replay.rows] == ["train"] * 6 + ["validation"] * 2 + ["test"] * 2
    assert replay.starts == {"train": T0, "validation": T0 + timedelta(seconds=6), "test": T0 + timedelta(seconds=8)}


def test_a_time_range_selects_events_and_labels_and_an_empty_one_is_an_error() -> None:
    records = [(event(i), 0, i) for i in range(10)]
    labels = [(label(i, True, at=i + 0.5), 0, i) for i in range(10)]
    replay = ordered(*frames(records, labels), start=T0 + timedelta(seconds=3), end=T0 + timedelta(seconds=6),
                     stream="s")  # fmt: skip
    assert ids(replay.rows) == ["e3", "L:e3", "e4", "L:e4", "e5", "L:e5"]
    with pytest.raises(EmptyReplay, match=r"no events of stream 's' in the lake from 2026-01-02"):
        ordered(*frames(records), start=T0 + timedelta(days=1), stream="s")
    with pytest.raises(EmptyReplay, match=r"^no events of stream 's' in the lake$"):
        ordered(*frames([]), stream="s")


def test_prequential_accuracy_equals_progressive_val_score_with_inline_labels() -> None:
    records = [(event(i, x, y), 0, i) for i, (x, y) in enumerate(PHISHING)]
    result = Backtest("s", phishing_stream(), [LOGISTIC]).run(ordered(*frames(records), stream="s").rows)
    expected = evaluate.progressive_val_score(datasets.Phishing(), build_model(LOGISTIC), metrics.Accuracy())
    (spec,) = result.specs
    assert spec.prequential.count == len(PHISHING) and spec.timing.learned == len(PHISHING)
    assert spec.prequential.values()[("accuracy", "cumulative")] == pytest.approx(expected.get(), abs=1e-9)


def test_late_labels_are_learned_when_the_replay_reaches_them() -> None:
    delay = 100  # each label comes 100 s (100 events) after its event
    records = [(event(i, x), 0, i) for i, (x, _) in enumerate(PHISHING)]
    labels = [(label(i, y, at=i + delay), 1, i) for i, (_, y) in enumerate(PHISHING)]
    result = Backtest("s", phishing_stream(), [LOGISTIC]).run(ordered(*frames(records, labels), stream="s").rows)

    # River on the same schedule: at instant i, event i is predicted, then the label of event i - delay learned.
    oracle, expected = build_model(LOGISTIC), metrics.Accuracy()
    predictions = {}
    for i, (x, _) in enumerate(PHISHING):
        predictions[i] = oracle.predict_one(x)
        if i >= delay:
            oracle.learn_one(*PHISHING[i - delay])
    for i, (_, y) in enumerate(PHISHING):
        expected.update(y, predictions[i])
    (spec,) = result.specs
    assert result.counts["labels_joined"] == len(PHISHING) and spec.timing.learned == len(PHISHING)
    assert spec.prequential.values()[("accuracy", "cumulative")] == pytest.approx(expected.get(), abs=1e-9)
    undelayed = evaluate.progressive_val_score(datasets.Phishing(), build_model(LOGISTIC), metrics.Accuracy())
    assert expected.get() != undelayed.get()  # the schedule matters


def test_holdout_parts_are_scored_by_the_models_frozen_at_the_cut() -> None:
    records = [(event(i, x, y), 0, i) for i, (x, y) in enumerate(PHISHING)]
    split = Split(0.6, 0.2, 0.2)
    result = Backtest("s", phishing_stream(), [LOGISTIC]).run(ordered(*frames(records), split, stream="s").rows)

    cut1, cut2 = round(len(PHISHING) * 0.6), round(len(PHISHING) * 0.8)
    frozen = build_model(LOGISTIC)
    for x, y in PHISHING[:cut1]:
        frozen.learn_one(x, y)
    validation, test = metrics.Accuracy(), metrics.Accuracy()
    for i, (x, y) in enumerate(PHISHING[cut1:], start=cut1):
        (validation if i < cut2 else test).update(y, frozen.predict_one(x))
    (spec,) = result.specs
    assert (spec.validation.count, spec.test.count) == (cut2 - cut1, len(PHISHING) - cut2)
    assert spec.validation.values()[("accuracy", "cumulative")] == pytest.approx(validation.get(), abs=1e-9)
    assert spec.test.values()[("accuracy", "cumulative")] == pytest.approx(test.get(), abs=1e-9)
    assert spec.prequential.count == len(PHISHING)  # the live models learned on


def test_labels_without_a_waiting_prediction_are_counted_unmatched() -> None:
    stream = StreamConfig(task="binary", features={"a": {}})
    records = [(event(0, y=True), 0, 0), (event(1), 0, 1)]
    labels = [(label(0, False, at=2), 0, 0), (label(1, True, at=3), 0, 1), (label(1, True, at=4), 0, 2),
              (label(7, True, at=5), 0, 3), (label(1, "maybe", at=6), 0, 4)]  # fmt: skip
    result = Backtest("s", stream, ["logistic"]).run(ordered(*frames(records, labels), stream="s").rows)
    # e0's label was inline, e1's second label finds nothing waiting, e7 was never replayed; "maybe" is no label.
    assert result.counts["labels_joined"] == 1 and result.counts["labels_unmatched"] == 3
    assert result.counts["labels_refused"] == 1 and result.counts["unlabelled"] == 0


def test_a_per_device_stream_has_a_model_per_device() -> None:
    stream = StreamConfig(task="binary", features={"a": {}}, scope="device")
    records = [(event(i, y=i % 2 == 0, device=f"d{i % 3}"), 0, i) for i in range(9)]
    backtest = Backtest("s", stream, ["logistic", "naive_bayes"])
    result = backtest.run(ordered(*frames(records), stream="s").rows)
    assert sorted(backtest.keys) == ["s/d0", "s/d1", "s/d2"]
    assert [s.timing.learned for s in result.specs] == [9, 9]


def test_a_bad_or_repeated_spec_is_refused_naming_it() -> None:
    with pytest.raises(ModelSpecError, match=r"'linear_model.Nope': river.linear_model has no model class 'Nope'"):
        check_specs(["logistic", "linear_model.Nope"])
    with pytest.raises(ModelSpecError, match=r"'logistic': given twice"):
        check_specs(["logistic", "logistic"])


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["driftline", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    return done.value.code, out, err


@pytest.fixture
def lake_config(tmp_path: Path) -> tuple[Path, Path]:
    """A config with a Phishing stream and a lake holding 300 of its rows, half labelled late."""
    lake = tmp_path / "lake"
    rows = PHISHING[:300]
    events = [(event(i, x, y if i % 2 else None), 0, i) for i, (x, y) in enumerate(rows)]
    labels = [(label(i, y, at=i + 30), 0, i) for i, (_, y) in enumerate(rows) if i % 2 == 0]
    events_frame, labels_frame = frames(events, labels)
    write_frame(events_frame, lake)
    write_frame(labels_frame, lake / LABELS_DIR)
    features = ", ".join(f'{name} = {{ missing = "keep" }}' for name in rows[0][0])
    config = tmp_path / "driftline.toml"
    stream = f'[streams.s]\ntask = "binary"\nfeatures = {{ {features} }}\n'
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n{stream}')
    return config, lake


def test_the_cli_compares_specs_in_a_table_a_json_report_and_a_plot(
    lake_config: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, lake = lake_config
    out = tmp_path / "out"
    code, stdout, _ = run_cli(monkeypatch, capsys, "backtest", "--stream", "s", "-c", str(config), "--lake", str(lake),
                              "--model", "logistic", "--model", "naive_bayes", "--out", str(out))  # fmt: skip
    assert code == 0
    assert "logistic" in stdout and "naive_bayes" in stdout and "prequential accuracy" in stdout
    assert "without the drift topic it shows no detections" in stdout
    report = json.loads((out / "s.json").read_text())
    assert list(report["models"]) == ["logistic", "naive_bayes"]
    assert report["rows"] == {"events": 300, "labels": 150, "duplicates": 0}
    assert report["counts"]["labels_joined"] == 150 and report["detections"] is None
    assert report["models"]["logistic"]["scored"] == {"prequential": 300, "validation": 45, "test": 45}
    assert report["models"]["logistic"]["learn_us_per_event"] > 0
    assert (out / "s.png").stat().st_size > 10_000


def test_without_model_the_cli_replays_the_streams_model_and_challengers(
    lake_config: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, lake = lake_config
    config.write_text(config.read_text() + 'model = "logistic"\nchallengers = ["naive_bayes", "logistic"]\n')
    out = tmp_path / "out"
    code, _, _ = run_cli(monkeypatch, capsys, "backtest", "--stream", "s", "-c", str(config), "--lake", str(lake),
                         "--out", str(out))  # fmt: skip
    assert code == 0
    assert list(json.loads((out / "s.json").read_text())["models"]) == ["logistic", "naive_bayes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "linear_model.Nope"], "Invalid value for --model: 'linear_model.Nope': river.linear_model has no"),
        (["--from", "2027-01-01T00:00:00Z"], "backtest: no events of stream 's' in the lake from 2027-01-01 00:00:00"),
        (["--from", "yesterday"], "Invalid value for --from: 'yesterday' is not an ISO 8601 time"),
        (["--stream", "nope"], "streams.nope: no such stream"),
    ],
    ids=["bad-spec", "empty-range", "bad-time", "unknown-stream"],
)
def test_cli_mistakes_are_one_line_and_exit_2(
    lake_config: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    config, lake = lake_config
    code, _, err = run_cli(monkeypatch, capsys, "backtest", "--stream", "s", "-c", str(config), "--lake", str(lake),
                           "--out", str(tmp_path / "out"), *args)  # fmt: skip
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
