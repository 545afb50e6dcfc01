"""The backtest oracle on a real lake: events replayed into Kafka, archived by the archiver, backtested.

`driftline replay river:Phishing` publishes through the collector's validation into a real broker,
the archiver writes the lake, and `driftline backtest` over those files scores exactly what River's
own `progressive_val_score` does. Late labels on the labels topic are archived too and joined.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from kafka_helpers import produce
from river import datasets, evaluate, metrics
from typer.testing import CliRunner

from conftest import unique_topics
from driftline.backtest.core import Backtest
from driftline.backtest.rows import ordered
from driftline.cli import app
from driftline.collector.archiver import Archiver
from driftline.collector.ingest import Rejected
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.config import load_settings
from driftline.config.settings import Settings
from driftline.contracts import DriftEvent, Outcome
from driftline.kafkaio.topics import ensure_topics
from driftline.lake import LABELS_DIR, export, read_labels, read_lake
from driftline.modelspec import build_model

LOGISTIC = "preprocessing.StandardScaler | linear_model.LogisticRegression"
PHISHING = list(datasets.Phishing())
# Features in the dataset's own order, without ranges: cleaning passes the values through unchanged.
# The replay stamps the rows 1 s apart, the last one now: the default clock-skew limit refuses none.
STREAM = """
[streams.phishing]
task = "binary"
label_ttl_s = 7200
features = {{ {features} }}
"""
CONFIG = """
state_dir = "{state}"
[kafka]
bootstrap_servers = "{bootstrap}"
[topics]
{topics}
"""


@pytest.fixture
def config(bootstrap: str, tmp_path: Path) -> Path:
    topics = "\n".join(f'{role} = {{ name = "{t["name"]}", partitions = {t["partitions"]} }}'
                       for role, t in unique_topics("backtest").items())  # fmt: skip
    features = ", ".join(f'{name} = {{ missing = "keep" }}' for name in PHISHING[0][0])
    path = tmp_path / "driftline.toml"
    path.write_text(CONFIG.format(state=tmp_path / "state", bootstrap=bootstrap, topics=topics)
                    + STREAM.format(features=features))  # fmt: skip
    ensure_topics(bootstrap, load_settings(path).topics)
    return path


def archive(settings: Settings, bootstrap: str, lake: Path) -> Archiver:
    archiver = Archiver(settings, bootstrap, lake, group=f"lake-{uuid.uuid4().hex[:8]}")
    archiver.run(idle_exit_s=3)
    return archiver


def test_backtest_of_an_archived_replay_equals_progressive_val_score(
    config: Path, bootstrap: str, tmp_path: Path
) -> None:
    settings = load_settings(config)
    runner = CliRunner()
    result = runner.invoke(app, ["replay", "river:Phishing", "--stream", "phishing", "-c", str(config)])
    assert result.exit_code == 0 and f"{len(PHISHING)} accepted, 0 rejected" in result.output, result.output
    lake = tmp_path / "lake"
    assert archive(settings, bootstrap, lake).archived == len(PHISHING)

    # What the monitor saw, on the real topics: outcomes of the same events, and a drift at the 600th.
    events = read_lake(lake, "phishing").sort_values("ts")
    stamps = [ts.to_pydatetime() for ts in events["ts"]]
    outcomes = [
        Outcome(outcome_id=f"phishing/replay/{e}/l", event_id=e, stream="phishing", device_id="replay",
                model_key="phishing", model_name=LOGISTIC, model_version=1, prediction=True, label=True,
                learned=True, features={}, event_ts=ts, ts=datetime.now(UTC))
        for e, ts in zip(events["event_id"], stamps, strict=True)
    ]  # fmt: skip
    produce(bootstrap, settings.topics.outcomes.name, (("phishing", o) for o in outcomes))
    drift = {"drift_kind": "concept", "model_key": "phishing", "model_name": LOGISTIC, "model_version": 1,
             "detector": "adwin", "position": 600}  # fmt: skip
    produce(bootstrap, settings.topics.drift.name, [
        ("phishing", DriftEvent(drift_id="d1", stream="phishing", **drift)),
        ("phishing", DriftEvent(drift_id="d2", stream="phishing", level="warning", **drift)),  # not a drift
    ])  # fmt: skip

    out = tmp_path / "backtest"
    args = ["backtest", "--stream", "phishing", "-c", str(config), "--lake", str(lake), "--out", str(out),
            "--model", LOGISTIC, "--model", "naive_bayes", "--bootstrap", bootstrap]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "phishing.json").read_text())

    expected = evaluate.progressive_val_score(datasets.Phishing(), build_model(LOGISTIC), metrics.Accuracy())
    got = report["models"][LOGISTIC]
    assert got["scored"]["prequential"] == len(PHISHING) and got["learned"] == len(PHISHING)
    assert got["prequential"]["accuracy"] == pytest.approx(expected.get(), abs=1e-9)
    naive = evaluate.progressive_val_score(datasets.Phishing(), build_model("naive_bayes"), metrics.Accuracy())
    assert report["models"]["naive_bayes"]["prequential"]["accuracy"] == pytest.approx(naive.get(), abs=1e-9)
    assert report["detections"] == [stamps[599].isoformat()]
    assert (out / "phishing.png").exists() and "naive_bayes" in result.output


def test_late_labels_are_archived_and_joined_at_their_time(config: Path, bootstrap: str, tmp_path: Path) -> None:
    settings = load_settings(config)
    delay = 300  # seconds, and events: one a second
    start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    at = lambda seconds: (start + timedelta(seconds=seconds)).isoformat()  # noqa: E731
    item = {"device_id": "d1", "stream": "phishing"}
    events = [{**item, "event_id": f"e{i}", "ts": at(i), "features": x} for i, (x, _) in enumerate(PHISHING)]
    labels = [{**item, "event_id": f"e{i}", "ts": at(i + delay), "label": y} for i, (_, y) in enumerate(PHISHING)]
    publisher = Publisher(bootstrap, send_timeout_s=30)
    try:
        ingestor = Ingestor(settings, publisher)
        for kind, items in (("events", events), ("labels", labels)):
            rejected = [r for r in ingestor.ingest(items, kind, "phishing", None, "test") if isinstance(r, Rejected)]
            assert not rejected, rejected[0]
    finally:
        publisher.close()

    lake = tmp_path / "lake"
    archiver = archive(settings, bootstrap, lake)
    assert (archiver.archived, archiver.archived_labels) == (len(PHISHING), len(PHISHING))
    archived = read_labels(lake, "phishing")
    assert sorted(archived["event_id"]) == sorted(f"e{i}" for i in range(len(PHISHING)))
    assert all(path.parts[-4] == LABELS_DIR for path in lake.glob(f"{LABELS_DIR}/stream=*/date=*/*.parquet"))
    # The events' table and the export are as before.
    assert len(read_lake(lake)) == len(PHISHING)
    parts = export(lake, "phishing", tmp_path / "export").values()
    assert sum(len(pd.read_parquet(path)) for path in parts) == len(PHISHING)

    replay = ordered(read_lake(lake, "phishing"), archived, stream="phishing")
    result = Backtest("phishing", settings.stream("phishing"), [LOGISTIC]).run(replay.rows)

    # River on the same schedule: at second i, event i is predicted, then the label of event i - delay learned.
    oracle, expected, predictions = build_model(LOGISTIC), metrics.Accuracy(), []
    for i, (x, _) in enumerate(PHISHING):
        predictions.append(oracle.predict_one(x))
        if i >= delay:
            oracle.learn_one(*PHISHING[i - delay])
    for (_, y), prediction in zip(PHISHING, predictions, strict=True):
        expected.update(y, prediction)
    (spec,) = result.specs
    assert result.counts["labels_joined"] == len(PHISHING) and result.counts["labels_unmatched"] == 0
    assert spec.prequential.values()[("accuracy", "cumulative")] == pytest.approx(expected.get(), abs=1e-9)
