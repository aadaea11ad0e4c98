"""Shared by the example scripts: where to write their pictures."""

from __future__ import annotations

import argparse
from pathlib import Path


def output_folder(description: str) -> Path:
    """The folder named on the command line (default ``out/``), created if missing."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "folder", nargs="?", default="out", help="where to write the files (default: out/)"
    )
    folder = Path(parser.parse_args().folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
