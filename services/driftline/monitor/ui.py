"""The status page: ``GET /ui`` (HTML), ``/ui/data`` (its JSON) and the vendored uPlot it draws with.

For users without Grafana at hand: per stream and model key, the score over event time with drift
detections and model versions marked, and the label delay; per stream and served model, the
trainer's mean µs per event to predict and to learn (with every candidate of the key: outcomes
carry the slot's time; each candidate's own is on the trainer's /models and /metrics). Everything
comes from the monitor's state, of the outcomes partitions it holds; with ``monitor.peers`` (the
other monitors of its group) the page adds theirs: ``/ui/data`` asks each peer for its own
(``/ui/data?own=true``) and :func:`merged` pools them (counts add up, scores and means are weighted
by what each is over). The page's assets ship in the package (no internet at run time). Like
/metrics, these paths are read-only and open (see :data:`UI_PATHS`); the bearer token keeps
guarding what acts (/alerts).
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Any

import httpx
from fastapi import FastAPI, Response
from fastapi.concurrency import run_in_threadpool

from driftline.monitor.history import MAX_KEYS_SHOWN
from driftline.monitor.series import Series
from driftline.monitor.state import MonitorState, partition_of

#: How long the page waits for a peer monitor's data (a missing peer is named, not waited for).
PEER_TIMEOUT_S = 2.0

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
        partitions = sorted((partition_of(unit) for unit in state.units), key=lambda p: (len(p), p))
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
            scored = scores.scored()["rolling"][0] if scores is not None else 0
            name = "mae" if series.task == "regression" else "accuracy"
            estimate = _estimate(series)
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
                    # What the score and the means are over: their weights when monitors' pages are pooled.
                    "scored": scored,
                    "label_delays": hist.count,
                    "predicts_timed": series.predicts_timed,
                    "learns_timed": series.learns_timed,
                    "label_delay_mean_s": hist.total / hist.count if hist.count else None,
                    # The trainer's, from the outcomes: predicting and learning with every candidate of the key.
                    "predict_us_mean": _mean_us(series.predict_ms, series.predicts_timed),
                    "learn_us_mean": _mean_us(series.learn_ms, series.learns_timed),
                    # Accuracy estimated before labels: calibrated once it rests on enough labels, else raw.
                    **estimate,
                    "drifts": drifts.get((stream, model, "concept"), 0),
                    "data_drifts": drifts.get((stream, model, "data"), 0),
                    "last_drift_ts": last_drift.get((stream, model)),
                }
            )
    streams = [
        {"stream": name, "models": [m for m in models if m["stream"] == name], **history.get(name, {"keys": []})}
        for name in sorted({m["stream"] for m in models} | set(history))
    ]
    return {
        "generated_ts": time.time(),
        "window": state.window,
        "every": state.history.every,
        "partitions": partitions,
        "monitors": 1,
        "missing": [],
        "streams": streams,
    }


def _estimate(series: Series) -> dict[str, Any]:
    """A model row's accuracy estimate: its value, method, the predictions it is over and the labels calibrating it."""
    confidence = series.confidence
    if confidence is None:
        return {"estimate": None, "estimate_method": None, "estimated_over": 0, "calibration_labels": 0}
    value, method = confidence.best()
    return {
        "estimate": value,
        "estimate_method": method,
        "estimated_over": len(confidence.confidences),
        "calibration_labels": confidence.calibration_labels,
    }


#: A model row's means and what each is weighted by when pages are pooled.
_MEANS = {
    "score": "scored",
    "estimate": "estimated_over",
    "label_delay_mean_s": "label_delays",
    "predict_us_mean": "predicts_timed",
    "learn_us_mean": "learns_timed",
}
_SUMS = (
    "predictions", "labelled", "scored", "label_delays", "predicts_timed", "learns_timed", "drifts", "data_drifts",
    "estimated_over", "calibration_labels",
)  # fmt: skip


def merged(pages: list[dict[str, Any]], missing: list[str] | None = None) -> dict[str, Any]:
    """Several monitors' page data (each of its own partitions) as one: counts summed, means weighted, keys together.

    Exact for accuracy, MAE and the mean label delay and times; the rolling score of precision-like
    figures is not shown on the page. ``missing``: peers that did not answer.
    """
    first = pages[0]
    streams: dict[str, dict[str, Any]] = {}
    for page in pages:
        for entry in page["streams"]:
            empty = {"stream": entry["stream"], "models": [], "keys": [], "hidden": 0}
            into = streams.setdefault(entry["stream"], empty)
            into.setdefault("task", entry.get("task"))
            into["models"] = _pooled_models(into["models"] + entry["models"])
            into["keys"] += entry.get("keys", [])
            into["hidden"] += entry.get("hidden", 0)
    for entry in streams.values():
        entry["hidden"] += max(0, len(entry["keys"]) - MAX_KEYS_SHOWN)
        entry["keys"] = entry["keys"][:MAX_KEYS_SHOWN]
        if entry["task"] is None:
            del entry["task"]
    partitions = sorted({p for page in pages for p in page.get("partitions", [])}, key=lambda p: (len(p), p))
    return {
        **first,
        "generated_ts": time.time(),
        "partitions": partitions,
        "monitors": len(pages),
        "missing": [*(missing or [])],
        "streams": [streams[name] for name in sorted(streams)],
    }


def _pooled_models(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for m in models:
        into = by.get((m["stream"], m["model"]))
        if into is None:
            by[(m["stream"], m["model"])] = dict(m)
            continue
        # .get: a peer of an older version may lack a figure (the estimate's); it counts as none.
        for mean, weight in _MEANS.items():
            into[mean] = _weighted(into.get(mean), into.get(weight, 0), m.get(mean), m.get(weight, 0))
        for name in _SUMS:
            into[name] = into.get(name, 0) + m.get(name, 0)
        into["version"] = max(into["version"], m["version"])
        # One monitor's estimate calibrated, another's not yet: "mixed".
        methods = {into.get("estimate_method"), m.get("estimate_method")} - {None}
        into["estimate_method"] = (methods.pop() if len(methods) == 1 else "mixed") if methods else None
        last = [t for t in (into["last_drift_ts"], m["last_drift_ts"]) if t is not None]
        into["last_drift_ts"] = max(last) if last else None
    return [by[key] for key in sorted(by)]


def _weighted(a: float | None, wa: int, b: float | None, wb: int) -> float | None:
    if a is None or not wa:
        return b
    if b is None or not wb:
        return a
    return (a * wa + b * wb) / (wa + wb)


async def _peer_pages(peers: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Each peer monitor's own page data; the peers that did not answer."""
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT_S) as http:
        answers = await asyncio.gather(
            *(http.get(f"{peer.rstrip('/')}/ui/data", params={"own": "true"}) for peer in peers),
            return_exceptions=True,
        )
    pages, missing = [], []
    for peer, answer in zip(peers, answers, strict=True):
        if isinstance(answer, httpx.Response) and answer.status_code == 200:
            pages.append(answer.json())
        else:
            missing.append(peer)
    return pages, missing


def add_ui_routes(app: FastAPI, state: MonitorState, peers: list[str] | None = None) -> None:
    """Serve the status page of ``state`` on ``app``, with the pages of ``peers`` (other monitors' URLs) added."""
    files = resources.files("driftline.monitor") / "static"
    page = (files / "status.html").read_bytes()
    assets = {name: (files / name).read_bytes() for name in ASSETS}

    @app.get("/ui", tags=["ui"])
    def ui() -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    @app.get("/ui/data", tags=["ui"])
    async def ui_data(own: bool = False) -> dict[str, Any]:
        # Off the event loop: it waits for the state's lock, which the consumer holds per outcome.
        page = await run_in_threadpool(status_data, state)
        if own or not peers:
            return page
        pages, missing = await _peer_pages(peers)
        return merged([page, *pages], missing)

    for name, media_type in ASSETS.items():
        app.add_api_route(f"/ui/{name}", _static(assets[name], media_type), methods=["GET"], tags=["ui"])


def _static(body: bytes, media_type: str) -> Any:
    """A handler serving ``body`` (a closure: FastAPI would read default arguments as query parameters)."""

    def serve() -> Response:
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=3600"})

    return serve
