"""Decode latency in the explorer under load: 20 clients moving sliders at once against one idle client.

Starts the explorer on 127.0.0.1 (a free port; nothing leaves this machine) over a tiny 64x64 conv64
run, then times POST /api/runs/0/decode:
- idle: one client, one request after another;
- loaded: ``--clients`` clients (threads, each with its own keep-alive connection) sending
  ``--requests`` requests each, all at once.
Prints p50 and p95 in milliseconds for both, their ratio, the requests the server answered 429 (busy),
and the explorer's limits. The work is bounded: clients x requests decodes in all.

    python benchmarks/decode_load.py [--clients 20] [--requests 15] [--idle 100] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decode_latency import serve_on_loopback, slider_moves, train_tiny_run  # noqa: E402


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=15, help="per client under load")
    parser.add_argument("--idle", type=int, default=100, help="requests of the lone client")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--max-heavy", type=int, default=None,
                        help="the explorer's cap on concurrent model requests (default: its own)")
    parser.add_argument("--run", type=Path, help="an existing run (default: train a tiny 64x64 one)")
    args = parser.parse_args()

    import httpx
    import torch

    from untwine.app import create_app
    from untwine.app.server import ExplorerLimits

    if args.threads:
        torch.set_num_threads(args.threads)
    limits = ExplorerLimits() if args.max_heavy is None else ExplorerLimits(max_heavy=args.max_heavy)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run or train_tiny_run(Path(tmp))
        app = create_app([run_dir], limits=limits)
        entry = app.state.runs[0]
        server, thread, port = serve_on_loopback(app)
        url = f"http://127.0.0.1:{port}/api/runs/0/decode"

        def client(codes: list[list[float]], seconds: list[float], refused: list[int], go: threading.Event):
            with httpx.Client(timeout=60) as http:
                http.post(url, json={"z": codes[0]})  # connect and warm up, not counted
                go.wait()
                for z in codes[1:]:
                    began = time.perf_counter()
                    answer = http.post(url, json={"z": z})
                    elapsed = time.perf_counter() - began
                    if answer.status_code == 429:
                        refused.append(1)
                    else:
                        answer.raise_for_status()
                        seconds.append(elapsed)

        def measure(clients: int, requests: int) -> tuple[list[float], int, float]:
            seconds: list[float] = []
            refused: list[int] = []
            go = threading.Event()
            workers = [threading.Thread(target=client, args=(
                slider_moves(np.zeros(entry.latent_dim), requests + 1, seed=i), seconds, refused, go))
                for i in range(clients)]
            for worker in workers:
                worker.start()
            time.sleep(0.5)
            began = time.perf_counter()
            go.set()
            for worker in workers:
                worker.join()
            return seconds, len(refused), time.perf_counter() - began

        idle, _, _ = measure(1, args.idle)
        loaded, refused, wall = measure(args.clients, args.requests)
        idle_again, _, _ = measure(1, args.idle)  # the machine's load may have changed meanwhile
        server.should_exit = True
        thread.join(10)
    print(f"explorer limits: {limits}; torch threads {torch.get_num_threads()}; "
          f"model {entry.size}x{entry.size}x{entry.channels}, {entry.latent_dim} latents")
    for name, seconds in (("idle (1 client)", idle), (f"loaded ({args.clients} clients)", loaded),
                          ("idle again", idle_again)):
        p50, p95 = percentiles(seconds)
        print(f"{name:<22} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms   ({len(seconds)} requests)")
    idle50, idle95 = percentiles(idle + idle_again)
    load50, load95 = percentiles(loaded)
    print(f"loaded / idle: p50 x{load50 / idle50:.1f}, p95 x{load95 / idle95:.1f}; "
          f"{len(loaded) / wall:.0f} decodes/s served under load; {refused} answered 429")


if __name__ == "__main__":
    main()
