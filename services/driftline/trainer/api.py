"""The trainer's HTTP face: predictions from the current model, open label requests, Prometheus metrics, health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from driftline.config.settings import Settings
from driftline.contracts import FeatureName, FeatureValue
from driftline.httpserver import (
    DEFAULT_MAX_BODY_BYTES,
    Guard,
    add_docs_routes,
    add_ops_routes,
    configured_token,
    refuse_unguarded,
)
from driftline.learning.candidate import Candidate
from driftline.learning.slot import ModelSlot
from driftline.trainer.core import TrainerCore, UnknownStream
from driftline.tuning import scores

#: Label requests one GET /label-requests returns at most.
MAX_LABEL_REQUESTS = 1000


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_key: str = Field(description="The stream, or stream/device for per-device models.")
    features: dict[FeatureName, FeatureValue]


def api_token(settings: Settings) -> str:
    """The token /predict, /models and /label-requests demand ("" leaves them open); required beyond loopback."""
    t = settings.trainer
    token = configured_token(t.api_token, t.api_token_file, "trainer.api_token")
    refuse_unguarded(t.host, token, "trainer.api_token")
    return token


def _tuning(model: Any) -> dict[str, Any]:
    tuned = scores(model)
    if not tuned:
        return {}
    serving = next(c.name for c in tuned if c.serving)
    return {"tuning": {"serving": serving, "candidates": [asdict(c) for c in tuned]}}


def _library(slot: ModelSlot) -> dict[str, Any]:
    """The key's library: the versions it keeps, the trial after a drift (docs/architecture.md, "Recurring
    concepts")."""
    library = slot.library
    return {
        "recalled_from": slot.recalled_from,
        "library": [] if library is None else [entry.version for entry in library.entries],
        "trial": None if library is None or library.trial is None else len(library.trial),
    }


def _figures(slot: ModelSlot, candidate: Candidate) -> dict[str, Any]:
    """What a candidate buys (its rolling score) and costs (µs per event), as `driftline status` shows it."""
    return {
        "name": candidate.name,
        "served": candidate is slot.served,
        "added": candidate.name in slot.added,
        "score_metric": "mae" if slot.stream.task == "regression" else "accuracy",
        "score": candidate.score,
        "predict_us": candidate.predict_us,
        "learn_us": candidate.learn_us,
    }


def create_app(
    core: TrainerCore,
    healthy: Callable[[], str | None] = lambda: None,
    token: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The trainer's app; with a ``token``, every route but /healthz and /metrics demands it as a bearer token."""
    app = FastAPI(
        title="driftline trainer",
        description="Serves the current model of each model key.",
        docs_url=None,  # served by add_docs_routes, from files in the package rather than a CDN
        redoc_url=None,
    )
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes, router=app.router)

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict[str, Any]:
        """The current model's prediction for a feature dict, with the model's name and version."""
        try:
            return core.predict(request.model_key, request.features)
        except UnknownStream as e:
            raise HTTPException(404, str(e)) from None
        except KeyError as e:
            raise HTTPException(404, e.args[0]) from None
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @app.get("/models")
    def models() -> list[dict[str, Any]]:
        """Every model key this trainer holds: its served model, version, learned count, and each candidate's
        rolling score and microseconds per predict and learn; its library: ``library`` (the versions of the past
        models it keeps), ``recalled_from`` (the version the served model had before, when it was recalled) and
        ``trial`` (labels noted since the last drift, while its trial runs). A tuned model key adds ``tuning``:
        the candidate serving, and each candidate's score and learned count."""
        with core.lock:
            core.wake_stream()  # keys taken over and not needed since are listed as the others
            return [
                {
                    "model_key": key,
                    "model_name": slot.serving,
                    "model_version": slot.version,
                    "learned": slot.learned,
                    "candidates": [c.name for c in slot.candidates],
                    "figures": [_figures(slot, c) for c in slot.candidates],
                    "background": slot.background is not None,
                    **_library(slot),
                    **_tuning(slot.served.model),
                }
                for key, slot in core.slots.items()
            ]

    @app.get("/label-requests")
    def label_requests(
        stream: Annotated[str, Query(description="The stream whose requests to list.")],
        limit: Annotated[int, Query(ge=1, le=MAX_LABEL_REQUESTS, description="At most this many.")] = 100,
    ) -> list[dict[str, Any]]:
        """Label requests no label has answered yet, oldest first (streams with a label_budget).

        Answer one by posting a label for its stream, device_id and event_id to the collector before
        its expires_at; a request answered, or whose prediction stopped waiting, leaves the list.
        """
        try:
            requests = core.open_label_requests(stream, limit)
        except UnknownStream as e:
            raise HTTPException(404, str(e)) from None
        return [request.model_dump(mode="json", exclude_none=True) for request in requests]

    add_ops_routes(app, core.metrics.registry, healthy)
    add_docs_routes(app)
    return app
