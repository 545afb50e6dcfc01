"""Run a Mosquitto MQTT broker with driftline's own config, password file and ACL.

The config comes from ``mosquitto.conf.template`` beside this module; passwords are hashed the
way ``mosquitto_passwd`` does (PBKDF2-SHA512, ``$7$``), so no extra tool is needed.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from driftline.processes import ManagedProcess, find_program, free_port, port_open

TEMPLATE = Path(str(resources.files("driftline.ops") / "mosquitto.conf.template"))
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2 password-file hash of ``password``."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def render_acl(bridge_user: str, topic_prefix: str) -> str:
    # %u: a device may publish only under its own name, so the topic's device is authenticated.
    return f"user {bridge_user}\ntopic read {topic_prefix}/#\n\npattern write {topic_prefix}/+/%u\n"


@dataclass
class Mosquitto:
    """A Mosquitto process on loopback; ``users`` maps usernames (the bridge and each device) to passwords."""

    data_dir: Path
    users: dict[str, str]
    bridge_user: str = "collector"
    topic_prefix: str = "sensors"
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    _process: ManagedProcess | None = field(default=None, init=False, repr=False)

    @property
    def log_file(self) -> Path:
        return self.data_dir / "mosquitto.log"

    def render(self) -> Path:
        """Write the config, password file and ACL into ``data_dir``; return the config's path."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        passwords = self.data_dir / "passwords"
        passwords.write_text("".join(f"{user}:{hash_password(pw)}\n" for user, pw in self.users.items()))
        acl = self.data_dir / "acl"
        acl.write_text(render_acl(self.bridge_user, self.topic_prefix))
        for path in (passwords, acl):
            os.chmod(path, 0o600)  # Mosquitto warns about, and will one day refuse, readable secrets
        config = self.data_dir / "mosquitto.conf"
        config.write_text(
            Template(TEMPLATE.read_text()).substitute(
                user=getpass.getuser(),
                port=self.port,
                host=self.host,
                password_file=passwords,
                acl_file=acl,
                data_dir=self.data_dir,
            )
        )
        return config

    def start(self, timeout: float = 20.0) -> Mosquitto:
        if self.running:
            return self
        config = self.render()
        argv = [find_program("mosquitto"), "-c", str(config)]
        self._process = ManagedProcess(
            "Mosquitto", argv, self.log_file, ready=lambda: port_open(self.port, self.host), port=self.port
        )
        self._process.start(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            self._process.stop(timeout)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
