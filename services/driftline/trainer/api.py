"""The trainer's HTTP face: predictions from the current model, Prometheus metrics, health."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from driftline.config import Settings
from driftline.contracts import FeatureName, FeatureValue
from driftline.httpserver import DEFAULT_MAX_BODY_BYTES, Guard, add_ops_routes, configured_token, refuse_unguarded
from driftline.trainer.core import TrainerCore, UnknownStream
from driftline.trainer.slot import Candidate, ModelSlot


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_key: str = Field(description="The stream, or stream/device for per-device models.")
    features: dict[FeatureName, FeatureValue]


def api_token(settings: Settings) -> str:
    """The token /predict and /models demand ("" leaves them open); refused beyond loopback without one."""
    t = settings.trainer
    token = configured_token(t.api_token, t.api_token_file, "trainer.api_token")
    refuse_unguarded(t.host, token, "trainer.api_token")
    return token


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
    app = FastAPI(title="driftline trainer", description="Serves the current model of each model key.")
    app.add_middleware(Guard, token=token, max_body_bytes=max_body_bytes)

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
        rolling score and microseconds per predict and learn."""
        with core.lock:
            return [
                {
                    "model_key": key,
                    "model_name": slot.served.name,
                    "model_version": slot.version,
                    "learned": slot.learned,
                    "candidates": [c.name for c in slot.candidates],
                    "figures": [_figures(slot, c) for c in slot.candidates],
                    "background": slot.background is not None,
                }
                for key, slot in core.slots.items()
            ]

    add_ops_routes(app, core.metrics.registry, healthy)
    return app
