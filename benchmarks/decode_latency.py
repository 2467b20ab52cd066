"""Decode latency per slider move in the explorer, for a 64x64 conv64 model on this CPU.

Trains a 64x64 beta-TCVAE run for a few steps (the weights do not change the cost of a decode),
then times, for random slider moves of one latent dimension:
- the bare decode: ``model.decode(z)`` and the sigmoid, in inference mode;
- the decode with PNG encoding, as the endpoint does it, without HTTP;
- the endpoint: POST /api/runs/0/decode through a real uvicorn server on 127.0.0.1 (keep-alive).
Prints median and p95 in milliseconds. The target is well under 50 ms a move.

    python benchmarks/decode_latency.py [--moves 300] [--threads N] [--run RUN_DIR]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def train_tiny_run(folder: Path) -> Path:
    from untwine.config import validate_config
    from untwine.run import train

    config = {
        "name": "decode-latency", "seed": 0, "output": str(folder),
        "data": {"source": "shapes", "options": {"scale": 2, "orientation": 2, "pos_x": 8, "pos_y": 8,
                                                 "size": 64}},
        "model": {"name": "betatcvae", "latent_dim": 10, "architecture": "conv64"},
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "checkpoint_every": 2, "device": "cpu"},
    }
    run, _ = train(validate_config(config), progress=False)
    return run.dir


def serve_on_loopback(app):
    """A uvicorn server for ``app`` on 127.0.0.1 at a free port, started in a thread:
    (server, thread, port); stop it with ``server.should_exit = True`` and ``thread.join()``."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, port


def summary(name: str, seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return (f"{name:<34} median {np.median(ms):7.2f} ms   p95 {np.percentile(ms, 95):7.2f} ms   "
            f"({len(ms)} moves)")


def slider_moves(start: np.ndarray, moves: int, seed: int = 0) -> list[list[float]]:
    """Codes as a slider sweep makes them: one dimension at a time, small steps."""
    rng = np.random.default_rng(seed)
    z = start.copy()
    codes = []
    for _ in range(moves):
        dim = rng.integers(len(z))
        z[dim] = float(np.clip(z[dim] + rng.normal(0, 0.3), -4, 4))
        codes.append(z.round(2).tolist())
    return codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--run", type=Path, help="an existing 64x64 run (default: train a tiny one)")
    args = parser.parse_args()

    import httpx
    import torch

    from untwine.app import create_app
    from untwine.app.images import to_png
    from untwine.models.likelihood import mean_image

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run or train_tiny_run(Path(tmp))
        app = create_app([run_dir])
        entry = app.state.runs[0]
        model = entry.run.model
        print(f"model: {entry.run.config.model.name} {entry.run.config.model.architecture}, "
              f"{entry.size}x{entry.size}x{entry.channels}, {entry.latent_dim} latents; "
              f"torch threads {torch.get_num_threads()}")
        codes = slider_moves(np.zeros(entry.latent_dim), args.moves + 20)

        def timed(call) -> list[float]:
            seconds = []
            for i, z in enumerate(codes):
                began = time.perf_counter()
                call(z)
                if i >= 20:  # warm-up moves are not counted
                    seconds.append(time.perf_counter() - began)
            return seconds

        def bare(z):
            with torch.inference_mode():
                mean_image(model.decode(torch.tensor([z])))

        def with_png(z):
            with torch.inference_mode():
                to_png(mean_image(model.decode(torch.tensor([z]))))

        server, thread, port = serve_on_loopback(app)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:

            def endpoint(z):
                response = client.post("/api/runs/0/decode", json={"z": z})
                response.raise_for_status()

            results = [("bare decode (model.decode + sigmoid)", timed(bare)),
                       ("decode + PNG (no HTTP)", timed(with_png)),
                       ("HTTP POST /api/runs/0/decode", timed(endpoint))]
        server.should_exit = True
        thread.join(10)
    for name, seconds in results:
        print(summary(name, seconds))


if __name__ == "__main__":
    main()
