"""Alertmanager webhook -> reset commands, following each stream's ``drift.on_alert`` policy.

Alertmanager posts a JSON document (webhook payload version "4") holding a group of alerts. An
alert leads to a :class:`~driftline.contracts.ControlCommand` when it is firing, carries the label
``action="reset"`` (the project's drift and accuracy rules set it) and a ``stream`` label naming
a configured stream. The stream's policy decides the command: ``cold_reset`` / ``warm_reset``
reset the models, ``rollback`` restores the previous snapshot, ``notify`` sends nothing.

Each alert is handled once per firing: its key is the alert fingerprint plus ``startsAt``, so
Alertmanager's repeat notifications and retries change nothing, while the same alert firing again
later (a new ``startsAt``) acts again. The command id is derived from that key too, so even a
restarted monitor re-sending it is dropped by the trainer's own command idempotence.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftline.config.streams import StreamConfig
from driftline.contracts import ControlCommand
from driftline.rules.dedupe import RecentIds

ISSUER = "driftline-monitor-webhook"


class Alert(BaseModel):
    """One alert of an Alertmanager notification (fields driftline reads; others are kept)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ""
    endsAt: str = ""
    fingerprint: str = Field(min_length=1, max_length=64)


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""
    alerts: list[Alert] = Field(max_length=1000)


@dataclass
class Decision:
    """What one alert leads to: a command to publish, or a reason to do nothing."""

    key: str
    result: Literal["command", "duplicate", "resolved", "notify", "ignored", "unknown_stream"]
    command: ControlCommand | None = None
    reason: str = ""  # why an alert that asked for a reset was ignored


@dataclass
class WebhookResult:
    decisions: list[Decision] = field(default_factory=list)

    @property
    def commands(self) -> list[ControlCommand]:
        return [d.command for d in self.decisions if d.command is not None]

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "commands": [c.command_id for c in self.commands],
            "results": dict(Counter(d.result for d in self.decisions)),
        }
        reasons = [d.reason for d in self.decisions if d.reason]
        if reasons:
            summary["reasons"] = reasons
        return summary


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@-]")


def command_id_for(alert: Alert) -> str:
    """A deterministic command id for one firing of an alert."""
    raw = f"am-{alert.fingerprint}-{alert.startsAt or 'unknown'}"
    return _UNSAFE.sub("_", raw)[:128]


class AlertPolicy:
    """Decides, without I/O, which commands a notification calls for; remembers handled alerts."""

    def __init__(self, streams: dict[str, StreamConfig], memory: int = 10_000) -> None:
        self.streams = streams
        self._handled = RecentIds(memory)
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def decide(self, payload: AlertmanagerPayload) -> WebhookResult:
        result = WebhookResult()
        for alert in payload.alerts:
            result.decisions.append(self._decide(alert))
        return result

    def _decide(self, alert: Alert) -> Decision:
        key = f"{alert.fingerprint}@{alert.startsAt}"
        if alert.status != "firing":
            return Decision(key, "resolved")
        if key in self._handled:
            return Decision(key, "duplicate")
        action = alert.labels.get("action")
        if action == "notify":
            return Decision(key, "notify")  # for people: the trainer already reacted, or nothing should
        if action != "reset":
            return Decision(key, "ignored")
        stream_name = alert.labels.get("stream", "")
        stream = self.streams.get(stream_name)
        if stream is None:
            return Decision(key, "unknown_stream")
        policy = stream.drift.on_alert
        if policy == "notify":
            return Decision(key, "notify")
        reason = f"{alert.labels.get('alertname', 'alert')}: {alert.annotations.get('summary', '')}".strip(": ")
        try:
            command = ControlCommand(
                command_id=command_id_for(alert),
                action="rollback" if policy == "rollback" else "reset",
                stream=stream_name,
                model_key=self._model_key(alert, stream_name, stream),
                mode="cold" if policy == "cold_reset" else "warm",
                reason=reason[:256],
                issuer=ISSUER,
            )
        except ValidationError as e:
            # Labels no command can carry (a model key over 200 characters, say): a 500 would
            # only make Alertmanager retry the same alert forever.
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            return Decision(key, "ignored", reason=f"{alert.fingerprint}: no valid command: {problems}"[:512])
        return Decision(key, "command", command)

    @staticmethod
    def _model_key(alert: Alert, stream_name: str, stream: StreamConfig) -> str | None:
        if alert.labels.get("model_key"):
            return alert.labels["model_key"]
        device = alert.labels.get("device")
        if device and stream.scope == "device":
            return f"{stream_name}/{device}"
        return None  # every model key of the stream

    def remember(self, result: WebhookResult) -> None:
        """Mark the alerts as handled (after their commands were published) and count them."""
        for decision in result.decisions:
            if decision.result not in ("resolved", "duplicate"):
                self._handled.seen(decision.key)
            self.counts[decision.result] += 1


Publish = Callable[[list[ControlCommand]], None]


def handle_notification(policy: AlertPolicy, payload: AlertmanagerPayload, publish: Publish) -> WebhookResult:
    """Decide, publish the commands, then remember: a failed publish leaves the alerts to a retry."""
    with policy.lock:
        result = policy.decide(payload)
        if result.commands:
            publish(result.commands)
        policy.remember(result)
        return result


def kafka_publisher(producer: Any, topic: str, timeout: float = 10.0) -> Publish:
    """A :data:`Publish` that sends commands to the control topic and waits for the acks."""
    from driftline.kafkaio.clients import deliver

    def publish(commands: list[ControlCommand]) -> None:
        deliver(producer, [(topic, (c.model_key or c.stream).encode(), c.to_bytes()) for c in commands], timeout)

    return publish
