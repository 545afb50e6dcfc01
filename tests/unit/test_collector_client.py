"""Reading a collector's answer: what replay --url and the simulator's HTTP sink count as rejected."""

from __future__ import annotations

import httpx
import pytest

from driftline.collector.client import CollectorError, rejected_in

ITEMS = [{"index": 0, "status": "rejected", "reason": "invalid", "problems": []}]


@pytest.mark.parametrize(
    ("status", "body", "rejected"),
    [
        (202, {"accepted": 3, "rejected": 0}, 0),
        (207, {"accepted": 2, "rejected": 1, "items": ITEMS}, 1),
        (422, {"accepted": 0, "rejected": 1, "items": ITEMS}, 1),  # every item rejected: an answer
    ],
)
def test_per_item_answers_give_the_rejected_count(status: int, body: dict, rejected: int) -> None:
    assert rejected_in(httpx.Response(status, json=body)) == rejected


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, {"detail": "body is not JSON: unexpected character"}),  # refused whole, not per item
        (422, {"detail": "empty batch"}),
        (401, {"detail": "unknown token"}),
        (500, {"detail": "internal error"}),
        (202, {"accepted": 3}),
    ],
)
def test_anything_else_is_a_collector_error(status: int, body: dict) -> None:
    with pytest.raises(CollectorError, match=f"collector answered {status}"):
        rejected_in(httpx.Response(status, json=body))


def test_a_body_that_is_not_json_is_a_collector_error() -> None:
    with pytest.raises(CollectorError, match="502"):
        rejected_in(httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(CollectorError, match="422"):
        rejected_in(httpx.Response(422, text="nope"))
