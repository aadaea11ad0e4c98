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
