"""Shared test setup: a headless matplotlib with fixed settings, figures closed after each test."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def _mpl_clean():
    with matplotlib.rc_context({"figure.dpi": 100, "savefig.dpi": 100}):
        yield
    plt.close("all")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite the golden files under tests/golden/ (or set GRAPHANIM_UPDATE_GOLDEN=1)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when golden files are to be rewritten, not compared."""
    flag = bool(request.config.getoption("--update-golden"))
    return flag or os.environ.get("GRAPHANIM_UPDATE_GOLDEN", "") == "1"
