"""Files the repo commits but code makes (JSON Schemas, Grafana dashboards): written whole, checked for drift."""

from __future__ import annotations

from pathlib import Path


def write_documents(documents: dict[str, str], folder: Path) -> list[Path]:
    """Write each ``name -> text`` into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in documents.items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def stale_documents(documents: dict[str, str], folder: Path, pattern: str = "*.json") -> list[str]:
    """Names that are missing or differ from ``documents``, then files matching ``pattern`` it does not make."""
    differ = [n for n, text in documents.items() if not (folder / n).exists() or (folder / n).read_text() != text]
    strays = [p.name for p in sorted(folder.glob(pattern)) if p.name not in documents]
    return differ + strays
