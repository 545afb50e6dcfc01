"""Scaling out: 1, 2, 3 trainer processes in one consumer group on the same pre-filled events."""

from __future__ import annotations

import time

from confluent_kafka import ConsumerGroupState, KafkaException

from driftline.kafkaio.clients import make_producer
from driftline.kafkaio.topics import admin_client
from driftline_lab.throughput import Bench, Measure, Outputs, Process, Setup, phishing_events, warm_up_event

#: Partitions of the benchmark's events topic (Bench.topics).
PARTITIONS = 6


def wait_for_group(bootstrap: str, group: str, members: int, processes: list[Process], timeout: float = 120) -> None:
    """Until the group is stable with ``members`` members, each assigned some partition."""
    admin = admin_client(bootstrap)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.popen.poll() is not None for p in processes):
            stopped = "; ".join(p.last_words() for p in processes if p.popen.poll() is not None)
            raise RuntimeError(f"a trainer stopped while joining: {stopped}")
        try:
            description = admin.describe_consumer_groups([group])[group].result(30)
        except KafkaException:
            time.sleep(0.2)  # the group's coordinator is not ready yet
            continue
        assigned = [m for m in description.members if m.assignment and m.assignment.topic_partitions]
        if description.state == ConsumerGroupState.STABLE and len(assigned) == members == len(description.members):
            return
        time.sleep(0.2)
    raise RuntimeError(f"group {group} did not settle on {members} members in {timeout:.0f} s")


def instances(bench: Bench, setup: Setup, count: int, records: list[tuple[bytes, bytes]]) -> Measure:
    """``count`` trainers share the events; events/s over the window, CPU summed over the processes."""
    reader = Outputs(bench.bootstrap, setup.outputs)
    processes: list[Process] = []
    deadline = time.monotonic() + 600
    try:
        # One at a time, each joining a settled group: one rebalance per member, as in a scale-out.
        for i in range(count):
            processes.append(Process.start(setup.argv, setup.env_for(i), setup.log(i)))
            wait_for_group(bench.bootstrap, setup.env["DRIFTLINE_TRAINER__GROUP_ID"], i + 1, processes)
        # One warm-up event per partition: every member has restored its partitions and answers.
        producer = make_producer(bench.bootstrap)
        for p in range(PARTITIONS):
            event = warm_up_event(f"warm{p}", f"w{p}")
            producer.produce(setup.events, event.to_bytes(), f"bench/warm{p}".encode(), partition=p)
        producer.flush(30)
        reader.read_until(
            lambda: sum(k.startswith("warm") for k in reader.answers) >= PARTITIONS + 1, processes, deadline
        )
        reader.answers.clear()
        release = bench.stager(setup.events, records)()
        wall, cpu = time.perf_counter(), sum(p.cpu for p in processes)
        expected = release()
        reader.read_until(lambda: len(reader.answers) >= expected, processes, deadline)
        wall, cpu = time.perf_counter() - wall, sum(p.cpu for p in processes) - cpu
    finally:
        for process in processes:
            process.stop()
        reader.close()
    return Measure(expected, wall, cpu)


def scale_out(
    bench: Bench, preset: str, keys: int, events: int, counts: list[int], rounds: int, advance
) -> dict[int, list[Measure]]:
    records = [(f"bench/{e.device_id}".encode(), e.to_bytes()) for e in phishing_events(events, keys)]
    runs: dict[int, list[Measure]] = {n: [] for n in counts}
    for r in range(rounds):
        for n in counts if r % 2 == 0 else list(reversed(counts)):
            runs[n].append(instances(bench, bench.driftline_setup(preset), n, records))
            advance()
    return runs
