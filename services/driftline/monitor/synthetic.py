"""Synthetic outcomes with a known change, for the monitor's tests, benchmark and demos.

A model whose error rate jumps at ``change_at`` (a concept change), and sensors whose values
are Gaussian with a mean that can shift at ``shift_at`` (a data change): the ground truth that
drift detectors are judged against. Seeded, so a given call always yields the same stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from driftline.contracts import Outcome

START = datetime(2024, 1, 1, tzinfo=UTC)


def outcomes(
    n: int,
    *,
    stream: str = "rooms",
    features: tuple[str, ...] = ("temperature", "humidity"),
    error_before: float = 0.1,
    error_after: float = 0.1,
    change_at: int | None = None,
    shift_feature: str | None = None,
    shift_at: int | None = None,
    shift: float = 3.0,
    model_name: str = "logistic",
    model_version: int = 1,
    device_id: str = "dev-1",
    model_key: str | None = None,
    seed: int = 0,
    prefix: str = "e",
    start: datetime = START,
) -> Iterator[Outcome]:
    """``n`` labelled binary outcomes of one model key, one second apart from ``start``."""
    rng = random.Random(seed)
    key = model_key or stream
    for i in range(n):
        error_rate = error_after if change_at is not None and i >= change_at else error_before
        label = rng.random() < 0.5
        wrong = rng.random() < error_rate
        prediction = label != wrong
        p_true = rng.uniform(0.55, 0.95) if prediction else rng.uniform(0.05, 0.45)
        values = {}
        for name in features:
            mean = shift if name == shift_feature and shift_at is not None and i >= shift_at else 0.0
            values[name] = round(20.0 + mean + rng.gauss(0.0, 1.0), 4)
        ts = start + timedelta(seconds=i)
        yield Outcome(
            outcome_id=f"{key}:{prefix}{i}:scored",
            event_id=f"{prefix}{i}",
            stream=stream,
            device_id=device_id,
            model_key=key,
            model_name=model_name,
            model_version=model_version,
            prediction=prediction,
            proba={"True": p_true, "False": 1.0 - p_true},
            label=label,
            learned=True,
            features=values,
            event_ts=ts,
            ts=ts,
        )
