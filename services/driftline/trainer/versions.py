"""Model versions that only go up, across trainer restarts too."""

from __future__ import annotations

import json
from pathlib import Path


class VersionLedger:
    """The last version of each model key, kept in a small JSON file of the trainer's state folder.

    A model key the trainer starts again after a restart is a new model life: it gets the
    recorded version + 1, so outcomes and the monitor never see a version go back.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._versions: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}

    def start(self, key: str) -> int:
        """The version a newly created model of ``key`` gets (and records)."""
        version = self._versions.get(key, 0) + 1
        self.record(key, version)
        return version

    def record(self, key: str, version: int) -> None:
        self._versions[key] = version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._versions, indent=1, sort_keys=True))
        tmp.replace(self.path)
