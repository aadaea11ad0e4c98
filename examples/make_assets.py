"""Regenerate the showcase files in ``assets/`` that the README shows (each must stay under 2 MB).

Run from the repository root: ``python examples/make_assets.py`` (or name another folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from branches import e_of
from chain_rule import r_of
from custom_sigmoid import neuron
from mlp import loss_of

from graphanim import TorchGraph

LIMIT = 2 * 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "folder", nargs="?", default=str(Path(__file__).resolve().parents[1] / "assets")
    )
    out = Path(parser.parse_args().folder)
    out.mkdir(parents=True, exist_ok=True)

    branches = TorchGraph(e_of, [2.0, 1.0])
    branches.animate(direction="backward", fps=1.5).save(out / "branches_backward.gif")
    branches.save(out / "branches_with_all.png", with_all=True)

    chain = TorchGraph(r_of, [1.0, 2.0, 4.0])
    chain.animate(direction="forward", fps=1.5).save(out / "chain_rule_forward.gif")
    chain.save(out / "chain_rule.png", with_all=True)

    TorchGraph(neuron, [1.5, -0.8, 0.3]).save(out / "custom_sigmoid.png", with_all=True)

    torch.manual_seed(1)
    TorchGraph(loss_of, [torch.randn(5, 3), torch.randn(5, 1)]).save(out / "mlp.png", with_all=True)

    for path in sorted(out.iterdir()):
        size = path.stat().st_size
        print(f"{path.name}: {size / 1024:.0f} KiB")
        if size > LIMIT:
            raise SystemExit(
                f"{path} is {size / 2**20:.1f} MB; showcase files must stay under 2 MB"
            )


if __name__ == "__main__":
    main()
