"""Fuzzing the collector over HTTP and MQTT: bad input gets a 4xx and a dead letter, valid events one outcome.

The scenario (`driftline_lab.fuzz`): schemathesis's negative cases from the collector's
/openapi.json and the contracts' own Hypothesis strategies, interleaved with valid events, against
the real broker, a real Mosquitto and the trainer. `driftline bench fuzz` runs it with 10,000 payloads.
"""

from __future__ import annotations

from pathlib import Path

from driftline_lab.fuzz import Plan, run


def test_malformed_payloads_are_refused_and_dead_lettered_and_valid_events_learned_once(
    bootstrap: str, tmp_path: Path
) -> None:
    result = run(bootstrap, tmp_path, Plan.quick())

    assert result.violations == []
    assert result.malformed >= Plan.quick().payloads
    assert result.sent["http"] and result.sent["mqtt"] and result.schemathesis_cases > 0
    assert result.server_errors == 0
    assert not any(status.startswith(("2", "5")) for status in result.statuses if status not in ("202", "207"))
    assert result.dead_letters == result.dead_letters_expected > 0
    assert result.dead_letters_missing == result.dead_letters_unexpected == result.trainer_dead_letters == 0
    assert result.accepted_events >= sum(result.valid_sent.values()) > 0
    assert result.missing_outcomes == result.duplicate_outcomes == result.unexpected_outcomes == 0
    assert result.outcomes == result.accepted_events
    assert result.alive == {"collector": True, "mqtt bridge": True, "trainer": True}
