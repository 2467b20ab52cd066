"""Peak memory and speed of the data path on the full shapes grid (737,280 binary 64x64 images).

Loads the grid (renders it when not cached, and says how long that took), draws one epoch of
batches through ``sampler``/``load`` and prints the peak resident set size of this process
(ru_maxrss: the torch import included) and the images/s of the data path. Target: peak < 0.6 GB.

    python benchmarks/data_memory.py [--batch-size 64] [--render]
"""

from __future__ import annotations

import argparse
import resource
import time


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--render", action="store_true", help="render anew, ignoring the cache")
    args = parser.parse_args()

    import torch

    from untwine.data import shapes
    from untwine.data.cache import cache_path
    from untwine.data.shapes import RENDERER_VERSION

    torch.set_num_threads(1)  # the data path is meant to be cheap on one core
    baseline = peak_mb()
    key = {"counts": (3, 6, 40, 32, 32), "size": 64, "version": RENDERER_VERSION}
    was_cached = cache_path("shapes", key).exists() and not args.render
    start = time.perf_counter()
    ds = shapes(cache=not args.render)
    made = time.perf_counter() - start
    how = "read from the cache" if was_cached else "rendered (then cached)"
    print(f"{ds}")
    print(f"grid {how} in {made:.2f} s; pixels take {ds.nbytes / 2**20:.0f} MiB")

    sampler = ds.sampler(args.batch_size, seed=0)
    start = time.perf_counter()
    total = 0.0
    for step in range(sampler.steps_per_epoch):
        batch = ds.load(sampler.indices(step), "cpu")
        total += float(batch.images[:, 0, 32, 32].sum())  # touch the batch so nothing is skipped
    elapsed = time.perf_counter() - start
    images = sampler.steps_per_epoch * args.batch_size
    print(
        f"one epoch: {sampler.steps_per_epoch} batches of {args.batch_size} in {elapsed:.2f} s "
        f"= {images / elapsed:,.0f} images/s (sampler + unpack + float, 1 thread)"
    )
    print(f"peak RSS {peak_mb():.0f} MiB (of which {baseline:.0f} MiB after importing torch)")


if __name__ == "__main__":
    main()
