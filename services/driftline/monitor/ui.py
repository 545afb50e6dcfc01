"""The status page: ``GET /ui`` (HTML), ``/ui/data`` (its JSON) and the vendored uPlot it draws with.

For users without Grafana at hand: per stream and model key, the score over event time with drift
detections and model versions marked, and the label delay; per stream and served model, the
trainer's mean µs per event to predict and to learn (with every candidate of the key: outcomes
carry the slot's time; each candidate's own is on the trainer's /models and /metrics). Everything
comes from the monitor's own state; the page's assets ship in the package (no internet at run
time). Like /metrics, these paths are read-only and open (see :data:`UI_PATHS`); the bearer token
keeps guarding what acts (/alerts).
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from fastapi import FastAPI, Response
from fastapi.concurrency import run_in_threadpool

from driftline.monitor.state import MonitorState

#: The page's static files: name -> media type. uPlot 1.6.32 (MIT, https://github.com/leeoniya/uPlot).
ASSETS = {
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "status.js": "text/javascript",
}
#: Paths the status page needs, open like /metrics: they show what /metrics already exposes.
UI_PATHS = frozenset({"/ui", "/ui/data", *(f"/ui/{name}" for name in ASSETS)})


def _mean_us(total_ms: float, n: int) -> float | None:
    return total_ms / n * 1000 if n else None


def status_data(state: MonitorState) -> dict[str, Any]:
    """The page's data: per stream and model its totals, per model key its recent history."""
    with state.lock:
        history = state.history.view()
        drifts: dict[tuple[str, str, str], int] = {}  # (stream, model, kind)
        last_drift: dict[tuple[str, str], float] = {}  # concept drifts only
        for (stream, model, kind, *_), n in state.drifts.items():
            drifts[(stream, model, kind)] = drifts.get((stream, model, kind), 0) + n
        for (stream, model, kind, *_), ts in state.last_drift_ts.items():
            if kind == "concept":
                last_drift[(stream, model)] = max(ts, last_drift.get((stream, model), ts))
        models = []
        for (stream, model), series in sorted(state.series.items()):
            scores = series.scores.get("prequential") or next(iter(series.scores.values()), None)
            values = scores.values() if scores is not None else {}
            name = "mae" if series.task == "regression" else "accuracy"
            hist = series.label_delay
            models.append(
                {
                    "stream": stream,
                    "model": model,
                    "task": series.task,
                    "version": series.version,
                    "predictions": series.predictions,
                    "labelled": sum(series.labels.values()),
                    "score_name": name,
                    "score": values.get((name, "rolling")),
                    "label_delay_mean_s": hist.total / hist.count if hist.count else None,
                    # The trainer's, from the outcomes: predicting and learning with every candidate of the key.
                    "predict_us_mean": _mean_us(series.predict_ms, series.predicts_timed),
                    "learn_us_mean": _mean_us(series.learn_ms, series.learns_timed),
                    "drifts": drifts.get((stream, model, "concept"), 0),
                    "data_drifts": drifts.get((stream, model, "data"), 0),
                    "last_drift_ts": last_drift.get((stream, model)),
                }
            )
    streams = [
        {"stream": name, "models": [m for m in models if m["stream"] == name], **history.get(name, {"keys": []})}
        for name in sorted({m["stream"] for m in models} | set(history))
    ]
    return {"generated_ts": time.time(), "window": state.window, "every": state.history.every, "streams": streams}


def add_ui_routes(app: FastAPI, state: MonitorState) -> None:
    """Serve the status page of ``state`` on ``app``."""
    files = resources.files("driftline.monitor") / "static"
    page = (files / "status.html").read_bytes()
    assets = {name: (files / name).read_bytes() for name in ASSETS}

    @app.get("/ui", tags=["ui"])
    def ui() -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get("/ui/data", tags=["ui"])
    async def ui_data() -> dict[str, Any]:
        # Off the event loop: it waits for the state's lock, which the consumer holds per outcome.
        return await run_in_threadpool(status_data, state)

    for name, media_type in ASSETS.items():
        app.add_api_route(f"/ui/{name}", _static(assets[name], media_type), methods=["GET"], tags=["ui"])


def _static(body: bytes, media_type: str) -> Any:
    """A handler serving ``body`` (a closure: FastAPI would read default arguments as query parameters)."""

    def serve() -> Response:
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    return serve
