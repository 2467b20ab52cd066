"""Builds the peers' virtual environments that train_throughput.py runs them in.

Each peer gets its own venv under ``.bench-venvs/`` (git-ignored) so that its pinned dependencies never
touch untwine's. torch 2.13.0 goes in first and stays pinned in every later ``pip install``: asking pip
for any other torch can pull a multi-GB CUDA build. disent imports torchvision at import time, and the
torchvision that pip resolves beside the CPU torch 2.13.0 cannot be imported ("operator
torchvision::nms does not exist"); with it installed even ``import lightning`` fails. So it is removed
again, and peer_disent.py puts an import-only stand-in in its place.

Usage: ``python benchmarks/peer_venvs.py [--root .bench-venvs] [pythae] [disent]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

TORCH = "torch==2.13.0"
ROOT = Path(__file__).resolve().parent.parent / ".bench-venvs"

# The peer's pip requirements and the packages to remove after installing them.
PEERS: dict[str, tuple[list[str], list[str]]] = {
    "pythae": (["pythae"], []),
    "disent": (["disent"], ["torchvision"]),
}


def python_of(peer: str, root: Path = ROOT) -> Path:
    return root / peer / "bin" / "python"


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "-q", *args], check=True)


def ensure(peer: str, root: Path = ROOT) -> Path:
    """The venv's python, building the venv first if it is missing or incomplete."""
    python = python_of(peer, root)
    done = root / peer / ".complete"  # written last, so an interrupted build is redone
    if done.exists():
        return python
    requirements, remove = PEERS[peer]
    print(f"building the {peer} venv in {root / peer} (a few minutes, once)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(root / peer)
    _pip(python, TORCH)
    _pip(python, *requirements, TORCH)
    if remove:
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", *remove], check=False)
    done.write_text("ok\n")
    return python


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("peers", nargs="*", help=f"any of {sorted(PEERS)} (default: all)")
    p.add_argument("--root", type=Path, default=ROOT)
    args = p.parse_args()
    for peer in args.peers or list(PEERS):
        if peer not in PEERS:
            p.error(f"unknown peer {peer!r}; known: {sorted(PEERS)}")
        print(ensure(peer, args.root))


if __name__ == "__main__":
    main()
