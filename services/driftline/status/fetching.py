"""Asking the running services what they know: one :class:`Snapshot` of their raw answers, parsed, nothing shaped.

A service that does not answer is noted in the snapshot with why, never raised; see
:mod:`driftline.status.shaping` for what the answers say.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer
from prometheus_client.parser import text_string_to_metric_families

from driftline.cli_options import TRAINER_TOKEN_ENV
from driftline.config.settings import Settings

#: Services and the paths asked of each: the trainer's /models takes its api token, the rest are open.
PATHS = {
    "trainer": ("/models", "/metrics"),
    "monitor": ("/ui/data", "/metrics"),
    "collector": ("/metrics",),
}
#: The environment variable `driftline status` reads the trainer's api token from: the one that sets it.
TOKEN_ENV = TRAINER_TOKEN_ENV


@dataclass(frozen=True)
class Sources:
    """Where the services listen, and the trainer's api token ("" when its endpoints are open).

    ``monitor``: one URL, or the URLs of every monitor of the group.
    """

    trainer: str
    monitor: str | tuple[str, ...]
    collector: str
    token: str = ""

    @classmethod
    def of(
        cls,
        settings: Settings,
        trainer: str | None = None,
        monitor: str | list[str] | None = None,
        collector: str | None = None,
        token: str | None = None,
    ) -> Sources:
        """The given URLs, else each service's configured port on 127.0.0.1; the token, else the configured one."""
        from driftline.httpserver import configured_token

        t = settings.trainer
        monitors = [monitor] if isinstance(monitor, str) else list(monitor or [])
        for name, url in (("trainer", trainer), *(("monitor", m) for m in monitors), ("collector", collector)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise typer.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint=f"--{name}")
        return cls(
            (trainer or f"http://127.0.0.1:{t.port}").rstrip("/"),
            tuple(m.rstrip("/") for m in monitors) or f"http://127.0.0.1:{settings.monitor.port}",
            (collector or f"http://127.0.0.1:{settings.collector.port}").rstrip("/"),
            configured_token(t.api_token, t.api_token_file, "trainer.api_token") if token is None else token,
        )

    def urls(self, service: str) -> tuple[str, ...]:
        found = getattr(self, service)
        return (found,) if isinstance(found, str) else tuple(found)


@dataclass
class Snapshot:
    """The services' answers at one moment: ``answers[(service, path)]`` is a /metrics page's samples or JSON."""

    taken: float
    answers: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: (service, URL) -> why it gave no answer.
    failures: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, service: str, path: str) -> Any:
        return self.answers.get((service, path))

    @property
    def answered(self) -> set[str]:
        return {service for service, _ in self.answers}


def fetch(sources: Sources, timeout: float = 3.0, client: httpx.Client | None = None) -> Snapshot:
    """Ask every service for what it knows; a service that does not answer is noted, not raised.

    A /metrics page is kept parsed (a list of :class:`Sample`), the JSON answers as they came.
    """
    snapshot = Snapshot(time.time())
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        for service, paths in PATHS.items():
            for base in sources.urls(service):
                _ask(http, snapshot, sources.token, service, base, paths)
    finally:
        if own:
            http.close()
    return snapshot


def _ask(http: httpx.Client, snapshot: Snapshot, token: str, service: str, base: str, paths: tuple[str, ...]) -> None:
    """One instance's answers into ``snapshot``: a monitor's merged with the other monitors'."""
    for path in paths:
        url = base + path
        headers = {"Authorization": f"Bearer {token}"} if token and path == "/models" else {}
        try:
            response = http.get(url, headers=headers)
        except httpx.HTTPError as e:
            snapshot.failures[(service, base)] = _why(e)
            return  # the next path of a service that is not there would fail the same way
        if response.status_code != 200:
            snapshot.failures[(service, url)] = _refusal(response, service, path)
            continue
        try:
            answer = samples(response.text) if path == "/metrics" else response.json()
        except ValueError:
            what = "Prometheus text" if path == "/metrics" else "JSON"
            snapshot.failures[(service, url)] = f"answered, but not with {what}: is it the {service}?"
            continue
        if service != "monitor":
            snapshot.answers[(service, path)] = answer
        elif path == "/metrics":
            # Each monitor's gauges pair with their own weights: the sample says whose it is.
            found = snapshot.answers.setdefault((service, path), [])
            found += [Sample(s.name, {**s.labels, "instance": base}, s.value) for s in answer]
        else:
            merged = snapshot.answers.setdefault((service, path), {**answer, "streams": []})
            merged["streams"] += answer.get("streams", [])


def _why(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "did not answer in time"
    # "[Errno 111] Connection refused" -> "connection refused"
    reason = str(error).split("] ", 1)[-1] or type(error).__name__
    return f"did not answer ({reason[:1].lower()}{reason[1:]})"


def _refusal(response: httpx.Response, service: str, path: str) -> str:
    if response.status_code == 401 and path == "/models":
        return f"answered 401: give the trainer's api token (--token, {TOKEN_ENV} or trainer.api_token)"
    if response.status_code == 404:
        return f"answered 404 (no {path} there): is it the {service}?"
    return f"answered HTTP {response.status_code}"


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def samples(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition; ValueError if it is not one."""
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
