"""Golden files under ``tests/golden/``: compare text with a reviewed file, or rewrite it.

``GRAPHANIM_UPDATE_GOLDEN=1 pytest ...`` rewrites the files (review the diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("GRAPHANIM_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    """Fail unless ``text`` equals ``tests/golden/<name>`` (rewritten with the update flag)."""
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"missing golden file {path}; run with GRAPHANIM_UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        got, want = text.splitlines(), expected.splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want))
        )
        shown = f"line {first + 1}: got {got[first] if first < len(got) else '<end>'!r}, " \
            f"expected {want[first] if first < len(want) else '<end>'!r}"
        pytest.fail(f"{path.name} differs from the golden file ({shown}); if the change is "
                    "intended, rerun with GRAPHANIM_UPDATE_GOLDEN=1 and review the diff")
