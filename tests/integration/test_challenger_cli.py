"""`driftline challenger add|remove` through the real broker, and each candidate's cost beside its accuracy."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
from test_cli import _one_line_error, driftline
from test_model_transfer import cli_env, learn, probe
from test_trainer_control import FEATURES, models, wait_for

from driftline.trainer.runner import TrainerRunner

#: A champion that learns nothing useful: either added challenger is promoted over it by its score.
STREAMS = {
    "phish": {"task": "binary", "model": "dummy.NoChangeClassifier", "promote_window": 100, "features": FEATURES}
}
SECRET = "the checkpoint key of the challenger test"


def gauges(url: str, metric: str) -> dict[str, float]:
    """``driftline_trainer_candidate_<metric>`` of stream phish on the trainer's /metrics, by model."""
    text = httpx.get(f"{url}/metrics").text
    pattern = rf'^driftline_trainer_candidate_{metric}{{model="([^"]+)",stream="phish"}} (\S+)$'
    return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}


def test_an_added_challenger_competes_and_is_restored_exactly_after_a_restart(make_settings, bootstrap: str) -> None:
    settings = make_settings(STREAMS, checkpoints={"secret": SECRET})
    env = {**cli_env(settings, SECRET), "DRIFTLINE_STREAMS": json.dumps(STREAMS)}
    with TrainerRunner(settings, bootstrap, port=0) as trainer:
        learn(settings, 0, 50)  # the trainer holds the key before the commands
        for spec, name in (("logistic", "logistic"), ("forest", "arf")):
            added = driftline("challenger", "add", "--stream", "phish", "--model", spec, "--name", name, env=env)
            assert added.returncode == 0, added.stderr
            assert added.stdout.splitlines()[-1] == f"applied: added challenger {name} (model version 1)"
        assert models(trainer.url)["phish"]["candidates"] == ["dummy.NoChangeClassifier", "logistic", "arf"]

        learn(settings, 50, 400)
        served = models(trainer.url)["phish"]
        winner = served["model_name"]
        assert winner in ("logistic", "arf")  # promoted: scored like a configured challenger
        figures = {f["name"]: f for f in served["figures"]}
        assert (
            figures["arf"]["added"] and figures[winner]["served"] and not figures["dummy.NoChangeClassifier"]["added"]
        )
        # Per event, the forest's learning and predicting cost more than the logistic regression's.
        assert figures["arf"]["learn_us"] > figures["logistic"]["learn_us"]
        assert figures["arf"]["predict_us"] > figures["logistic"]["predict_us"]
        learn_s, predict_s = gauges(trainer.url, "learn_seconds"), gauges(trainer.url, "predict_seconds")
        accuracy = gauges(trainer.url, "accuracy")
        assert set(learn_s) == set(predict_s) == set(accuracy) == {"dummy.NoChangeClassifier", "logistic", "arf"}
        assert learn_s["arf"] > learn_s["logistic"] and predict_s["arf"] > predict_s["logistic"]
        assert accuracy[winner] > accuracy["dummy.NoChangeClassifier"]
        assert accuracy == {name: figures[name]["score"] for name in accuracy}
        answers = probe(trainer.url)
        assert {a["model_name"] for a in answers} == {winner}

        # A name taken, or the served model removed, is refused by the trainer in one line.
        taken = driftline("challenger", "add", "--stream", "phish", "--model", "hoeffding", "--name", "arf", env=env)
        assert _one_line_error(taken, 1).endswith("the trainer refused it: phish has a candidate named 'arf' already")
        served_now = driftline("challenger", "remove", "--stream", "phish", "--name", winner, env=env)
        assert _one_line_error(served_now, 1).endswith(
            f"'{winner}' is the served model now; reset the key or promote another first"
        )

    # Restarted from its checkpoint: the same candidates, and the added champion answers to the last bit.
    with TrainerRunner(settings, bootstrap, port=0) as trainer:
        restored = models(trainer.url)["phish"]
        assert restored["candidates"] == ["dummy.NoChangeClassifier", "logistic", "arf"]
        assert restored["model_name"] == winner
        assert probe(trainer.url) == answers
        # A reset rebuilds the added challengers beside the configured champion (fresh, learning anew).
        reset = driftline("reset", "--stream", "phish", env=env)
        assert reset.returncode == 0, reset.stderr
        wait_for(lambda: models(trainer.url)["phish"]["model_version"] == 2)
        assert models(trainer.url)["phish"]["candidates"] == ["dummy.NoChangeClassifier", "logistic", "arf"]
        removed = driftline("challenger", "remove", "--stream", "phish", "--name", "arf", env=env)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.splitlines()[-1] == "applied: removed challenger arf (model version 2)"
        assert models(trainer.url)["phish"]["candidates"] == ["dummy.NoChangeClassifier", "logistic"]


def test_a_bad_spec_or_stream_is_one_line_and_nothing_is_sent(tmp_path: Path) -> None:
    """Refused before Kafka is looked for: the configured bootstrap server does not even exist."""
    env = {
        **os.environ,
        "DRIFTLINE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DRIFTLINE_STATE_DIR": str(tmp_path),
        "DRIFTLINE_STREAMS": json.dumps(STREAMS),
    }
    bad = driftline("challenger", "add", "--stream", "phish", "--model", "tree.NoSuchTree", env=env)
    assert _one_line_error(bad) == "error: 'tree.NoSuchTree': river.tree has no model class 'NoSuchTree'"
    code = driftline("challenger", "add", "--stream", "phish", "--model", "__import__('os')", env=env)
    assert _one_line_error(code).endswith("expected module.Class, got '__import__'")
    unknown = driftline("challenger", "add", "--stream", "nope", "--model", "logistic", env=env)
    assert "nope" in _one_line_error(unknown)
