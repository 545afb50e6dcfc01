"""A real three-node Kafka cluster (KRaft, every node broker and controller) from the same jars.

For what a single broker cannot show: a node lost under load. Topics get three replicas and
``min.insync.replicas`` 2, so a write acknowledged with ``acks=all`` is on two nodes at least, and
losing any one node loses nothing and stops nobody.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from driftline.kafkaio.broker import BrokerError, LocalBroker, _cluster_id
from driftline.processes import free_ports


@dataclass
class LocalCluster:
    """``with LocalCluster(folder) as cluster: cluster.bootstrap_servers``; nodes in ``cluster.nodes``."""

    data_dir: Path
    size: int = 3
    heap: str = "384m"
    nodes: list[LocalBroker] = field(init=False)

    def __post_init__(self) -> None:
        # Every node's two ports drawn at once: drawn one by one, two nodes could get the same one.
        ports = free_ports(2 * self.size)
        clients, controllers = ports[: self.size], ports[self.size :]
        voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controllers))
        cluster_id = _cluster_id()
        self.nodes = [
            LocalBroker(
                data_dir=self.data_dir / f"node-{i + 1}",
                port=clients[i],
                controller_port=port,
                heap=self.heap,
                node_id=i + 1,
                voters=voters,
                replicas=min(self.size, 3),
                cluster_id=cluster_id,
            )
            for i, port in enumerate(controllers)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def start(self, timeout: float = 120.0) -> LocalCluster:
        """Start every node at once, then wait until each answers (a node alone has no quorum to answer with).

        At once: each JVM takes seconds to open its controller port, and one after another they took half a
        minute on a loaded machine."""
        from concurrent.futures import ThreadPoolExecutor

        try:
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda node: node.start(timeout, wait=False), self.nodes))
        except BaseException:
            self.stop()  # the nodes that did start
            raise
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            while not node.answers():
                if time.monotonic() > deadline:
                    self.stop()
                    silent = f"Kafka node {node.node_id} did not answer within {timeout:.0f}s"
                    raise BrokerError(f"{silent}; see {node.log_file}")
                time.sleep(0.3)
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
