"""No large file gets committed by accident: every tracked file stays under a size limit.

A 318 KB wheel of grafana-foundation-sdk once sat at the repository's root, committed with an unrelated
change and used by nothing. Pictures, benchmark results and test fixtures are committed on purpose;
they have a higher limit of their own, so even they cannot grow without bounds unnoticed.
"""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Any tracked file: the wheel (318 KB) is over it; the largest source file is a tenth of it.
LIMIT = 256 * 1024
#: Files committed on purpose, up to ALLOWED_LIMIT: docs pictures, benchmark results, test fixtures.
ALLOWED = ("docs/img/*.png", "benchmarks/results/*.png", "benchmarks/results/*.json", "tests/fixtures/*")
ALLOWED_LIMIT = 1024 * 1024


def tracked_sizes(repo: Path) -> dict[str, int]:
    """Each file git tracks in ``repo`` (its index), with its size in the work tree."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    sizes = {}
    for name in listed.decode().split("\0"):
        path = repo / name
        if name and path.exists():  # a file deleted but not yet staged is on its way out
            sizes[name] = path.lstat().st_size
    return sizes


def too_large(sizes: dict[str, int]) -> list[str]:
    """The files over their limit, each with its size and the limit it is over."""
    found = []
    for name, size in sorted(sizes.items()):
        allowed = any(fnmatch.fnmatch(name, pattern) for pattern in ALLOWED)
        limit = ALLOWED_LIMIT if allowed else LIMIT
        if size > limit:
            found.append(f"{name}: {size:,} bytes, over {limit:,}" + ("" if allowed else " (not in ALLOWED)"))
    return found


def test_no_tracked_file_is_over_its_size_limit() -> None:
    sizes = tracked_sizes(REPO)
    assert "pyproject.toml" in sizes  # the listing found the checkout's files
    assert too_large(sizes) == []


def test_a_large_file_fails_whether_allowed_or_not(tmp_path: Path) -> None:
    git = ["git", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "tool-1.0-py3-none-any.whl").write_bytes(b"\0" * (LIMIT + 1))
    (tmp_path / "docs" / "img").mkdir(parents=True)
    (tmp_path / "docs" / "img" / "small.png").write_bytes(b"\0" * (LIMIT + 1))  # allowed: under its limit
    (tmp_path / "docs" / "img" / "huge.png").write_bytes(b"\0" * (ALLOWED_LIMIT + 1))
    (tmp_path / "untracked.bin").write_bytes(b"\0" * (LIMIT + 1))  # not tracked: not git's to refuse
    subprocess.run([*git, "add", "tool-1.0-py3-none-any.whl", "docs"], check=True)
    assert too_large(tracked_sizes(tmp_path)) == [
        f"docs/img/huge.png: {ALLOWED_LIMIT + 1:,} bytes, over {ALLOWED_LIMIT:,}",
        f"tool-1.0-py3-none-any.whl: {LIMIT + 1:,} bytes, over {LIMIT:,} (not in ALLOWED)",
    ]


def test_the_limit_would_have_refused_the_stray_wheel() -> None:
    assert too_large({"grafana_foundation_sdk-1769699998!10.1.0-py3-none-any.whl": 318_469}) != []
