"""The HTTP ingest against the real broker: per-item results, keys, dead letters and every refusal."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from collector_fixtures import (
    STREAMS,
    TOKENS,
    auth,
    devices,
    event,
    headers_of,
    metric_total,
    private_kafka,
    read_topic,
)
from fastapi.testclient import TestClient

from driftline.collector.app import create_app
from driftline.collector.intake import Ingestor
from driftline.collector.publisher import Publisher
from driftline.config.settings import Settings
from driftline.contracts import LabelEvent, SensorEvent, parse
from driftline.kafkaio.broker import LocalBroker


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(STREAMS, devices=devices(), collector={"max_batch_items": 50, "max_body_bytes": 20_000})


@pytest.fixture
def client(settings: Settings, bootstrap: str) -> Iterator[TestClient]:
    publisher = Publisher(bootstrap, send_timeout_s=10)
    with TestClient(create_app(Ingestor(settings, publisher))) as client:
        yield client
    publisher.close()


def test_mixed_batch_gives_exact_per_item_results(client: TestClient, settings: Settings, bootstrap: str) -> None:
    batch = [
        event(0),
        {**event(1), "ts": "yesterday"},  # bad timestamp
        event(2, device="dev-b"),  # another device's event under dev-a's token
        event(3, stream="machines"),  # wrong stream for this route
        {**event(4), "features": {"co2": [1, 2]}},
        event(5),
        "not an object",
        {**event(7), "surprise": 1},  # unknown field
    ]
    response = client.post("/v1/streams/rooms/events", json=batch, headers=auth("dev-a"))

    assert response.status_code == 207, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 6)
    statuses = [(item["index"], item["status"], item.get("reason")) for item in result["items"]]
    assert statuses == [
        (0, "accepted", None),
        (1, "rejected", "invalid"),
        (2, "rejected", "wrong_device"),
        (3, "rejected", "wrong_stream"),
        (4, "rejected", "invalid"),
        (5, "accepted", None),
        (6, "rejected", "invalid"),
        (7, "rejected", "invalid"),
    ]
    fields = {item["index"]: [p["field"] for p in item["problems"]] for item in result["items"] if item.get("problems")}
    assert fields[1] == ["ts"]
    assert fields[2] == ["device_id"]
    assert fields[7] == ["surprise"]
    assert "must be a boolean, a finite number or a string" in result["items"][4]["problems"][0]["message"]

    events = read_topic(bootstrap, settings.topics.events.name, expected=2)
    assert sorted(parse(SensorEvent, r.value).event_id for r in events) == ["dev-a-0", "dev-a-5"]
    assert {r.key for r in events} == {b"rooms"}  # rooms has one model per stream

    dead = read_topic(bootstrap, settings.topics.deadletter.name, expected=6)
    assert len(dead) == 6
    by_reason = [headers_of(r)["reason"] for r in dead]
    assert by_reason == ["invalid", "wrong_device", "wrong_stream", "invalid", "invalid", "invalid"]
    first = headers_of(dead[0])
    # The one dead-letter header layout of driftline.kafkaio.deadletter, as the trainer writes it too.
    assert [name for name, _ in dead[0].headers] == ["error", "reason", "source", "device", "stream", "time"]
    assert first["device"] == "dev-a" and first["stream"] == "rooms" and first["source"] == "http"
    assert first["error"].startswith("ts:") and first["time"]
    assert orjson.loads(dead[0].value) == batch[1]  # the original payload, untouched
    assert orjson.loads(dead[4].value) == "not an object"


def test_device_scoped_stream_is_keyed_per_device(client: TestClient, settings: Settings, bootstrap: str) -> None:
    for device in ("dev-a", "dev-b"):
        batch = [event(i, device=device, stream="machines") for i in range(3)]
        response = client.post("/v1/streams/machines/events", json=batch, headers=auth(device))
        assert response.status_code == 202 and response.json() == {"accepted": 3, "rejected": 0}
    records = read_topic(bootstrap, settings.topics.events.name, expected=6)
    keys = {(parse(SensorEvent, r.value).device_id, r.key) for r in records}
    assert keys == {("dev-a", b"machines/dev-a"), ("dev-b", b"machines/dev-b")}


def test_a_late_label_goes_to_the_labels_topic(client: TestClient, settings: Settings, bootstrap: str) -> None:
    label = {"stream": "machines", "device_id": "dev-b", "event_id": "dev-b-1", "label": True}
    label["ts"] = "2025-01-01T00:01:00Z"
    response = client.post("/v1/streams/machines/labels", json=label, headers=auth("dev-b"))
    assert response.status_code == 202, response.text
    (record,) = read_topic(bootstrap, settings.topics.labels.name, expected=1)
    assert record.key == b"machines/dev-b"
    assert parse(LabelEvent, record.value).event_id == "dev-b-1"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Device-Id": "dev-a"}, 401),
        (auth("dev-a", "wrong-token"), 401),
        (auth("nobody", "token-a-secret"), 403),  # dev-a's token claiming another name
        ({"X-Device-Id": "dev-b", "Authorization": "Bearer token-a-secret"}, 403),
    ],
)
def test_credentials_are_checked(client: TestClient, headers: dict[str, str], status: int) -> None:
    response = client.post("/v1/streams/rooms/events", json=event(0), headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_a_device_limited_to_other_streams_is_forbidden(client: TestClient) -> None:
    response = client.post("/v1/streams/machines/events", json=event(0, "dev-r", "machines"), headers=auth("dev-r"))
    assert response.status_code == 403 and "may not post" in response.json()["detail"]


def test_unknown_stream_is_404(client: TestClient) -> None:
    response = client.post("/v1/streams/kitchens/events", json=event(0, stream="kitchens"), headers=auth("dev-a"))
    assert response.status_code == 404 and "kitchens" in response.json()["detail"]
    # The URL's stream is the sender's choice: it must not become a metric label.
    metrics = client.get("/metrics").text
    assert "kitchens" not in metrics
    assert 'driftline_collector_requests_refused_total{reason="unknown_stream",transport="http"} 1.0' in metrics


def test_the_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    headers = {"X-Device-Id": "dev-a", "Authorization": f"bearer {TOKENS['dev-a']}"}
    response = client.post("/v1/streams/rooms/events", json=event(0), headers=headers)
    assert response.status_code == 202, response.text
    headers["Authorization"] = f"Basic {TOKENS['dev-a']}"
    assert client.post("/v1/streams/rooms/events", json=event(1), headers=headers).status_code == 401


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_bug_while_publishing_is_a_logged_500_not_kafka_unavailable(
    settings: Settings, bootstrap: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = Publisher(bootstrap, send_timeout_s=10)
    ingestor = Ingestor(settings, publisher)

    def broken(*args: object) -> None:
        raise ValueError("a bug in building records")

    monkeypatch.setattr(ingestor, "records", broken)
    try:
        with TestClient(create_app(ingestor), raise_server_exceptions=False) as client:
            response = client.post("/v1/streams/rooms/events", json=event(0), headers=auth("dev-a"))
    finally:
        publisher.close()
    assert response.status_code == 500
    assert "a bug in building records" in caplog.text
    registry = ingestor.metrics.registry
    assert metric_total(registry, "driftline_collector_requests_refused_total", reason="kafka_unavailable") == 0


def test_oversized_bodies_are_413(client: TestClient, settings: Settings, bootstrap: str) -> None:
    too_many = [event(i) for i in range(51)]
    response = client.post("/v1/streams/rooms/events", json=too_many, headers=auth("dev-a"))
    assert response.status_code == 413 and "51 items" in response.json()["detail"]
    too_big = [{**event(i), "metadata": {"note": "x" * 250}} for i in range(49)]
    response = client.post("/v1/streams/rooms/events", json=too_big, headers=auth("dev-a"))
    assert response.status_code == 413 and "bytes" in response.json()["detail"]
    assert read_topic(bootstrap, settings.topics.events.name, idle_ms=1500) == []


def test_only_invalid_items_is_422(client: TestClient, settings: Settings, bootstrap: str) -> None:
    response = client.post("/v1/streams/rooms/events", json={**event(0), "features": "warm"}, headers=auth("dev-a"))
    assert response.status_code == 422
    assert response.json()["items"][0]["problems"][0]["field"] == "features"
    json_headers = {**auth("dev-a"), "Content-Type": "application/json"}
    response = client.post("/v1/streams/rooms/events", content=b"{nope", headers=json_headers)
    assert response.status_code == 422 and "not JSON" in response.json()["detail"]
    response = client.post("/v1/streams/rooms/events", json=[], headers=auth("dev-a"))
    assert response.status_code == 422 and response.json() == {"detail": "empty batch"}
    # Refused whole, the body that is not JSON and the empty batch are dead-lettered as they came too.
    dead = read_topic(bootstrap, settings.topics.deadletter.name, expected=3)
    assert [(headers_of(r)["reason"], r.value) for r in dead[1:]] == [("not_json", b"{nope"), ("empty", b"[]")]
    assert headers_of(dead[0])["reason"] == "invalid"
    metrics = client.get("/metrics").text
    for reason in ("not_json", "empty"):
        assert f'driftline_collector_requests_refused_total{{reason="{reason}",transport="http"}} 1.0' in metrics


def deep(depth: int) -> bytes:
    """An event of dev-a whose feature is nested ``depth`` levels deep in all."""
    arrays = depth - 2
    return orjson.dumps(event(900)).replace(b'"co2":1300', b'"co2":' + b"[" * arrays + b"]" * arrays)


def post_raw(client: TestClient, body: bytes, content_type: str | None = "application/json"):
    headers = {**auth("dev-a"), **({"Content-Type": content_type} if content_type else {})}
    return client.post("/v1/streams/rooms/events", content=body, headers=headers)


def test_a_body_nested_1000_deep_is_422_and_dead_lettered_as_it_came(
    client: TestClient, settings: Settings, bootstrap: str
) -> None:
    body = b'{"features": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = post_raw(client, body)
    assert response.status_code == 422, response.text
    problem = response.json()["items"][0]["problems"][0]
    assert problem["message"] == "nested 1001 levels deep, more than the 32 a message may have"
    too_deep_to_parse = b'{"features": ' + b"[" * 1100 + b"]" * 1100 + b"}"
    response = post_raw(client, too_deep_to_parse)
    assert response.status_code == 422 and "nested more than 1024 levels deep" in response.json()["detail"]
    dead = read_topic(bootstrap, settings.topics.deadletter.name, expected=2)
    assert [(headers_of(r)["reason"], r.value) for r in dead] == [("too_deep", body), ("too_deep", too_deep_to_parse)]


@pytest.mark.parametrize("depth", [253, 980, 1100])
def test_a_deep_item_keeps_its_bytes_and_loses_no_valid_item(
    client: TestClient, settings: Settings, bootstrap: str, depth: int
) -> None:
    body = b"[" + orjson.dumps(event(0)) + b",\n  " + deep(depth) + b"  ,\n" + orjson.dumps(event(1)) + b"]"
    response = post_raw(client, body)
    assert response.status_code == 207, response.text
    items = response.json()["items"]
    assert [item["status"] for item in items] == ["accepted", "rejected", "accepted"]
    assert items[1]["reason"] == "too_deep" and f"nested {depth} levels deep" in items[1]["problems"][0]["message"]
    events = read_topic(bootstrap, settings.topics.events.name, expected=2)
    assert sorted(parse(SensorEvent, r.value).event_id for r in events) == ["dev-a-0", "dev-a-1"]
    (dead,) = read_topic(bootstrap, settings.topics.deadletter.name, expected=1)
    assert dead.value == deep(depth)  # the original bytes, not a Python repr
    assert headers_of(dead)["reason"] == "too_deep"


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_declared_json_is_415_and_dead_lettered(
    client: TestClient, settings: Settings, bootstrap: str, content_type: str | None
) -> None:
    body = orjson.dumps(event(0))
    response = post_raw(client, body, content_type)
    assert response.status_code == 415 and "Content-Type" in response.json()["detail"]
    (dead,) = read_topic(bootstrap, settings.topics.deadletter.name, expected=1)
    assert dead.value == body and headers_of(dead)["reason"] == "unsupported_media_type"
    assert read_topic(bootstrap, settings.topics.events.name, idle_ms=1500) == []


def test_oversized_bodies_are_dead_lettered_with_their_head(
    client: TestClient, settings: Settings, bootstrap: str
) -> None:
    too_many = orjson.dumps([event(i) for i in range(51)])
    assert post_raw(client, too_many).status_code == 413
    too_big = orjson.dumps([{**event(i), "metadata": {"note": "x" * 250}} for i in range(49)])
    assert post_raw(client, too_big).status_code == 413
    dead = read_topic(bootstrap, settings.topics.deadletter.name, expected=2)
    assert dead[0].value == too_many and "truncated" not in headers_of(dead[0])
    # The collector stops reading past max_body_bytes: the dead letter holds the head it read, and says so.
    assert too_big.startswith(dead[1].value) and len(dead[1].value) > settings.collector.max_body_bytes
    assert headers_of(dead[1])["truncated"] == f"{len(too_big)} bytes"
    assert [headers_of(r)["reason"] for r in dead] == ["too_large", "too_large"]


def test_metrics_count_accepted_and_rejected(client: TestClient) -> None:
    client.post("/v1/streams/rooms/events", json=[event(0), {**event(1), "ts": "noon"}], headers=auth("dev-a"))
    client.post("/v1/streams/rooms/events", json=event(2), headers=auth("dev-a", "bad"))
    text = client.get("/metrics").text
    assert 'driftline_collector_events_accepted_total{stream="rooms",transport="http"} 1.0' in text
    assert 'driftline_collector_events_rejected_total{reason="invalid",stream="rooms",transport="http"} 1.0' in text
    assert 'driftline_collector_requests_refused_total{reason="unauthorized",transport="http"} 1.0' in text
    assert 'driftline_collector_batch_size_count{transport="http"} 1.0' in text
    assert 'driftline_collector_kafka_send_seconds_count{transport="http"} 1.0' in text


def test_openapi_documents_the_ingest_route(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    route = doc["paths"]["/v1/streams/{stream}/{kind}"]["post"]
    assert {"202", "207", "401", "403", "404", "413", "422", "503"} <= set(route["responses"])
    assert "SensorEvent" in doc["components"]["schemas"]


def test_broker_down_is_503_and_no_acknowledged_event_is_lost(stoppable_kafka: LocalBroker) -> None:
    with private_kafka(stoppable_kafka, STREAMS, partitions=2) as (broker, settings):
        publisher = Publisher(broker.bootstrap_servers, send_timeout_s=3)
        acknowledged: list[str] = []
        refused: list[str] = []
        with TestClient(create_app(Ingestor(settings, publisher))) as client:

            def post(first: int) -> int:
                batch = [event(i) for i in range(first, first + 10)]
                response = client.post("/v1/streams/rooms/events", json=batch, headers=auth("dev-a"))
                (acknowledged if response.status_code == 202 else refused).extend(e["event_id"] for e in batch)
                return response.status_code

            assert [post(i * 10) for i in range(3)] == [202, 202, 202]
            broker.stop()
            response = client.post("/v1/streams/rooms/events", json=[event(100)], headers=auth("dev-a"))
            assert response.status_code == 503
            assert response.headers["Retry-After"] == str(settings.collector.retry_after_s)
            refused.append("dev-a-100")
            broker.start()
            statuses = [post(200 + i * 10) for i in range(3)]
            assert statuses[-1] == 202, statuses  # back to normal once the broker returns
        publisher.close()

        records = read_topic(broker.bootstrap_servers, settings.topics.events.name)
        stored = {parse(SensorEvent, r.value).event_id for r in records}
        assert len(acknowledged) >= 40
        assert set(acknowledged) <= stored


BAD_BINARY_LABELS = [2, 1.5, -1, 1e30, "yes", "true", "False"]


def test_labels_that_do_not_fit_a_binary_stream_are_422_and_never_reach_the_trainer(
    client: TestClient, settings: Settings, bootstrap: str
) -> None:
    batch = [event(0), *(event(i + 1, label=label) for i, label in enumerate(BAD_BINARY_LABELS)), event(9, label=1)]
    response = client.post("/v1/streams/rooms/events", json=batch, headers=auth("dev-a"))
    assert response.status_code == 207, response.text
    items = response.json()["items"]
    assert [item["status"] for item in items] == ["accepted", *["rejected"] * len(BAD_BINARY_LABELS), "accepted"]
    for item in items[1:-1]:
        assert item["reason"] == "invalid_label"
        ((problem),) = item["problems"]
        assert problem["field"] == "label" and "stream rooms" in problem["message"]
    # A late label on its own is checked the same way.
    late = {"stream": "rooms", "device_id": "dev-a", "event_id": "dev-a-0", "label": "yes"}
    late["ts"] = "2025-01-01T00:01:00Z"
    response = client.post("/v1/streams/rooms/labels", json=late, headers=auth("dev-a"))
    assert response.status_code == 422 and response.json()["items"][0]["reason"] == "invalid_label"

    events = read_topic(bootstrap, settings.topics.events.name, expected=2)
    assert sorted(parse(SensorEvent, r.value).event_id for r in events) == ["dev-a-0", "dev-a-9"]
    assert read_topic(bootstrap, settings.topics.labels.name, idle_ms=1500) == []
    dead = read_topic(bootstrap, settings.topics.deadletter.name, expected=len(BAD_BINARY_LABELS) + 1)
    assert [orjson.loads(r.value)["label"] for r in dead] == [*BAD_BINARY_LABELS, "yes"]
    assert {headers_of(r)["reason"] for r in dead} == {"invalid_label"}
