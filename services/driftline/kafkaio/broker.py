"""A real single-node Apache Kafka broker (KRaft, broker + controller) run from Maven Central jars.

Used by the test suite and by ``driftline stack`` when no bootstrap servers are configured.
The jars are fetched once with Maven from the pom shipped beside this module and cached under
``~/.cache/driftline`` (or DRIFTLINE_CACHE); the broker listens on loopback only and logs to a file.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from driftline.processes import ManagedProcess, ProcessError, free_port, port_open

log = logging.getLogger(__name__)

POM = Path(str(resources.files("driftline.kafkaio") / "pom.xml"))
LOG4J_CONFIG = Path(str(resources.files("driftline.kafkaio") / "log4j2.properties"))


class BrokerError(RuntimeError):
    """The local broker could not be fetched, formatted or started."""


def cache_dir() -> Path:
    return Path(os.environ.get("DRIFTLINE_CACHE") or Path.home() / ".cache" / "driftline")


def jars_dir(pom: Path = POM) -> Path:
    """Where the jars of this pom live; a changed pom gets a fresh folder."""
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    return cache_dir() / f"kafka-jars-{digest}"


def fetch_jars(pom: Path = POM) -> Path:
    """Download the broker's jars with Maven unless they are already cached; return their folder."""
    target = jars_dir(pom)
    if (target / ".complete").exists():
        return target
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is not installed; it is needed once to fetch the Kafka jars")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]  # fmt: skip
    log.info("fetching Kafka jars: %s", " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BrokerError(f"mvn failed ({done.returncode}): {(done.stdout + done.stderr).strip()[-2000:]}")
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java:
        raise BrokerError("Java 17+ is needed to run Kafka; install a JDK or set JAVA_HOME")
    return java


def _cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # Kafka's own generator redraws these too: the storage tool reads a leading "-" as an option.
        if not text.startswith("-"):
            return text


@dataclass
class LocalBroker:
    """One Kafka process in KRaft combined mode, bound to loopback ports chosen at construction.

    Ports and the data folder stay the same across :meth:`stop` and :meth:`start`, so a restarted
    broker serves the records it had.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    #: In a cluster (:class:`~driftline.kafkaio.cluster.LocalCluster`): this node's id, every
    #: controller as ``id@host:port``, the replicas internal topics and new topics get, the
    #: cluster id every node is formatted with.
    node_id: int = 1
    voters: str = ""
    replicas: int = 1
    cluster_id: str = field(default_factory=lambda: _cluster_id())
    _process: ManagedProcess | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _properties(self) -> Path:
        path = self.data_dir / "server.properties"
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={self.node_id}",
                    f"controller.quorum.voters={self.voters or f'1@127.0.0.1:{self.controller_port}'}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.data_dir / 'logs'}",
                    # One node: every internal topic has a single replica. A cluster: an acknowledged
                    # write is on two nodes at least, so losing one loses nothing.
                    f"offsets.topic.replication.factor={self.replicas}",
                    f"transaction.state.log.replication.factor={self.replicas}",
                    f"transaction.state.log.min.isr={min(self.replicas, 2)}",
                    f"share.coordinator.state.topic.replication.factor={self.replicas}",
                    f"share.coordinator.state.topic.min.isr={min(self.replicas, 2)}",
                    f"default.replication.factor={self.replicas}",
                    f"min.insync.replicas={min(self.replicas, 2)}",
                    "group.initial.rebalance.delay.ms=0",
                    # driftline creates its topics with explicit partition counts; typos must fail.
                    "auto.create.topics.enable=false",
                    "",
                ]
            )
        )
        return path

    def _java(self, main: str, *args: str, jars: Path) -> list[str]:
        return [
            java_executable(), f"-Xmx{self.heap}", "-Xms128m", "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={self.data_dir}",
            "-cp", f"{jars}/*", main, *args,
        ]  # fmt: skip

    def start(self, timeout: float = 60.0, wait: bool = True) -> LocalBroker:
        """Format storage on first start, launch the broker and wait until it answers.

        Without ``wait``, only until its controller listens: a cluster node answers clients only
        once a quorum of its peers is up too.
        """
        if self.running:
            return self
        jars = fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            fmt = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(props), jars=jars),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise BrokerError(f"formatting Kafka storage failed: {(fmt.stdout + fmt.stderr).strip()[-2000:]}")
        ready = self.answers if wait else lambda: port_open(self.controller_port)
        self._process = ManagedProcess(
            f"Kafka node {self.node_id}", self._java("kafka.Kafka", str(props), jars=jars), self.log_file, ready=ready
        )
        try:
            self._process.start(timeout)
        except ProcessError as e:
            raise BrokerError(str(e)) from None
        log.info("Kafka broker up on %s (log: %s)", self.bootstrap_servers, self.log_file)
        return self

    def answers(self) -> bool:
        from confluent_kafka import KafkaException

        from driftline.kafkaio.topics import admin_client

        if not port_open(self.port):
            return False
        try:
            admin_client(self.bootstrap_servers).list_topics(timeout=3)
            return True
        except KafkaException:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the broker down cleanly (SIGTERM), killing it only if it hangs."""
        if self._process is not None:
            self._process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL, as a power cut: no controlled shutdown, no leadership handed over."""
        if self._process is not None:
            self._process.kill()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
