"""Many model keys: memory, the cost of a new key, and restart-to-resume with 10,000 per-device models."""

from __future__ import annotations

import time
from dataclasses import dataclass

from driftline.kafkaio.clients import deliver, make_producer
from driftline_lab.throughput import WARM_UP, Bench, Outputs, Process, phishing_events, warm_up_event


@dataclass
class ManyKeys:
    keys: int
    new_key_ms: float
    """CPU per event whose model key is new, minus CPU per event of a known key."""
    known_key_us: float
    rss_mb: float
    """Resident memory of the trainer holding every key."""
    rss_restored_mb: float
    """The same after a restart restored them from checkpoints."""
    resume_s: float
    """From starting the restarted process to its first outcome."""


def many_keys(bench: Bench, keys: int, preset: str = "logistic") -> ManyKeys:
    setup = bench.driftline_setup(preset)
    reader = Outputs(bench.bootstrap, setup.outputs)
    process = Process.start(setup.argv, setup.env_for(0), setup.log(0))
    deadline = time.monotonic() + 900
    cpu: list[float] = []
    try:
        reader.read_until(lambda: WARM_UP in reader.answers, [process], deadline)
        for prefix in ("new", "known"):  # one event per key, twice: first each key is new, then known
            records = [(f"bench/{e.device_id}".encode(), e.to_bytes()) for e in phishing_events(keys, keys, prefix)]
            release = bench.stager(setup.events, records)()
            before = process.cpu
            expected = len(reader.answers) + release()
            reader.read_until(lambda n=expected: len(reader.answers) >= n, [process], deadline)
            cpu.append(process.cpu - before)
        rss = process.rss_mb
    finally:
        process.stop()  # a clean stop checkpoints every partition
    began = time.monotonic()
    process = Process.start(setup.argv, setup.env_for(0), setup.log(0))
    try:
        probe = warm_up_event("d0", "probe")
        deliver(make_producer(bench.bootstrap), [(setup.events, b"bench/d0", probe.to_bytes())])
        reader.read_until(lambda: "d0/probe" in reader.answers, [process], deadline)
        resume_s = time.monotonic() - began
        rss_restored = process.rss_mb
    finally:
        process.stop()
        reader.close()
    new, known = cpu
    return ManyKeys(keys, (new - known) / keys * 1000, known / keys * 1e6, rss, rss_restored, resume_s)
