"""UDR and the unsupervised scores: untwine beside disentanglement_lib 1.5 on the same fixed codes.

Five models of one setting (the same sources, permuted, sign-flipped, mixed more from model to model,
with noise and inactive dimensions), 1,000 codes of 10 dimensions each. disentanglement_lib runs in
its own venv (``.bench-venvs/dlib-1.5``, built once by metrics_vs_dlib.py) through
``dlib_udr_runner.py``; untwine in this process. Prints each value from both, their difference and
the time each took (one call each, on whatever else the machine is doing: read the ratio, not the
seconds).

Usage: ``python benchmarks/udr_vs_dlib.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_vs_dlib import dlib_python  # noqa: E402

from untwine.metrics.udr import udr  # noqa: E402
from untwine.metrics.unsupervised import unsupervised_scores  # noqa: E402

RUNNER = Path(__file__).resolve().parent / "dlib_udr_runner.py"


def fixed_codes(models: int = 5, n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sources = rng.standard_normal((n, 6))
    codes, kl = [], []
    for m in range(models):
        mixing = np.eye(6) + 0.1 * m * rng.standard_normal((6, 6))
        active = sources @ mixing[:, rng.permutation(6)] * rng.choice([-1, 1], 6)
        codes.append(np.concatenate([active + 0.2 * rng.standard_normal((n, 6)),
                                     0.01 * rng.standard_normal((n, 4))], axis=1))
        kl.append(np.concatenate([rng.uniform(0.5, 3, 6), rng.uniform(0, 0.009, 4)]))
    kl[1][5] = 0.005  # one more inactive dimension in one model
    return np.stack(codes), np.stack(kl)


def main() -> None:
    codes, kl = fixed_codes()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "codes.npz"
        np.savez(path, codes=codes, kl=kl)
        theirs = json.loads(subprocess.run([str(dlib_python()), str(RUNNER), str(path)], check=True,
                                           capture_output=True, text=True).stdout)
    rows = ["| score | untwine | disentanglement_lib | max abs difference | untwine s | dlib s |",
            "|---|---|---|---|---|---|"]
    for correlation in ("spearman", "lasso"):
        start = time.perf_counter()
        mine = udr(list(codes), list(kl), correlation).model_scores
        seconds = time.perf_counter() - start
        if f"udr_{correlation}" not in theirs:
            rows.append(f"| UDR ({correlation}), 5 models | {np.round(mine, 4).tolist()} | not in "
                        f"disentanglement-lib 1.5 (PyPI) | | {seconds:.3f} | |")
            continue
        ref = theirs[f"udr_{correlation}"]
        rows.append(f"| UDR ({correlation}), 5 models | {np.round(mine, 4).tolist()} | "
                    f"{np.round(ref['model_scores'], 4).tolist()} | "
                    f"{np.abs(mine - np.array(ref['model_scores'])).max():.1e} | {seconds:.3f} | "
                    f"{ref['seconds']:.3f} |")
    start = time.perf_counter()
    result = unsupervised_scores(codes[0])
    seconds = time.perf_counter() - start
    ref = theirs["unsupervised"]
    for i, key in enumerate(("gaussian_total_correlation", "gaussian_wasserstein_correlation",
                             "gaussian_wasserstein_correlation_norm", "mutual_info_score")):
        mine_value, other = getattr(result, key), ref["values"][key]
        timing = f"{seconds:.3f} | {ref['seconds']:.3f}" if i == 0 else " | "
        rows.append(f"| {key} | {mine_value:.6f} | {other:.6f} | {abs(mine_value - other):.1e} | {timing} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
