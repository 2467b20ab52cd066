"""untwine's metrics against disentanglement_lib 1.5's, on the same arrays, side by side in one run.

Builds (once) a venv for disentanglement-lib 1.5 under ``.bench-venvs/dlib-1.5`` (git-ignored) with
``--no-deps`` installs of what its metric modules import, at the numpy / scipy / scikit-learn
versions this interpreter has, so both sides run the same libraries; TensorFlow is replaced by a
stub ``gin.tf`` (see dlib_metrics_runner.py). It is never a dependency of untwine.

The arrays: ``--n`` training and ``--n // 4`` test samples (an 80/20 split), the 5 dSprites
factors (shape 3, scale 6, orientation 40, x 32, y 32, uniform) and 10 code dimensions, in three
kinds: ``disentangled`` (factor k alone in dimension k, plus noise; dimensions 5-9 pure noise),
``mixed`` (every dimension a noisy linear mix, 0.3 off the diagonal) and ``rotated`` (the
disentangled code through a random rotation). Each metric is timed on each side (wall clock: one
call, or for a metric whose first call takes under 5 s the best of ``--repeats`` calls on both sides;
disentanglement_lib in a subprocess on the same .npz with its library defaults, untwine in
this process with its defaults and ``threads`` = the machine's cores for DCI and explicitness, after
a small warm-up call that loads the compiled tree code).

Usage: ``python benchmarks/metrics_vs_dlib.py [--n 10000] [--kinds disentangled mixed rotated]
[--dci-sklearn] [--repeats 3] [--out bench-results]``
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import numpy as np

from untwine.metrics import dci, explicitness, mig, modularity, sap

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venvs" / "dlib-1.5"
RUNNER = Path(__file__).resolve().parent / "dlib_metrics_runner.py"
SIZES = np.array([3, 6, 40, 32, 32])  # dSprites: shape, scale, orientation, x, y
TOLERANCE = {"dci": 1e-3, "dci_sklearn": 1e-3}  # every other metric is deterministic: 1e-6
KINDS = ("disentangled", "mixed", "rotated")
THREADS = os.cpu_count() or 1  # DCI and explicitness fit their factors this many at a time
CORE = ("mig", "dci", "sap", "modularity", "explicitness")
QUICK = 5.0  # a metric faster than this (s) is timed as the best of --repeats calls, on both sides


def dlib_python() -> Path:
    python = VENV / "bin" / "python"
    done = VENV / ".complete"  # written last, so an interrupted build is redone
    if done.exists():
        return python
    print(f"building {VENV} (once)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    same = [f"{p}=={importlib.metadata.version(p)}" for p in ("numpy", "scipy", "scikit-learn")]
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *same, "gin-config==0.4.0", "six", "absl-py"], check=True)
    subprocess.run([*pip, "--no-deps", "disentanglement-lib==1.5"], check=True)
    done.write_text("ok\n")
    return python


def make_arrays(n: int, dims: int, seed: int, kind: str = "mixed") -> dict[str, np.ndarray]:
    """Uniform dSprites factors; codes = factors in [-0.5, 0.5] through a fixed map + noise."""
    mixing_rng = np.random.default_rng(seed)
    mixing = np.zeros((len(SIZES), dims))
    mixing[np.arange(len(SIZES)), np.arange(len(SIZES))] = 1.0
    if kind == "mixed":
        mixing += 0.3 * mixing_rng.standard_normal((len(SIZES), dims))
    elif kind == "rotated":
        rotation, _ = np.linalg.qr(mixing_rng.standard_normal((dims, dims)))
        mixing = mixing @ rotation
    elif kind != "disentangled":
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")

    def draw(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        factors = rng.integers(0, SIZES, size=(count, len(SIZES)))
        unit = (factors + 0.5) / SIZES - 0.5
        return unit @ mixing + 0.05 * rng.standard_normal((count, dims)), factors

    rng = np.random.default_rng(seed + 1)
    codes_train, factors_train = draw(n, rng)
    codes_test, factors_test = draw(n // 4, rng)
    return dict(
        codes_train=codes_train,
        factors_train=factors_train,
        codes_test=codes_test,
        factors_test=factors_test,
    )


def run_untwine(a: dict[str, np.ndarray], dci_sklearn: bool, repeats: int,
                metrics: list[str]) -> dict[str, dict]:
    split = (a["codes_train"], a["factors_train"], a["codes_test"], a["factors_test"])
    calls = {
        "mig": lambda: {"discrete_mig": mig(a["codes_train"], a["factors_train"]).score},
        "dci": lambda: _dci_values(dci(*split, threads=THREADS)),
        "sap": lambda: {"SAP_score": sap(*split).score},
        "modularity": lambda: {"modularity_score": modularity(a["codes_train"], a["factors_train"]).score},
        "explicitness": lambda: _explicitness_values(explicitness(*split, threads=THREADS)),
    }
    if dci_sklearn:
        calls["dci_sklearn"] = lambda: _dci_values(dci(*split, learner="sklearn", threads=THREADS))
    calls = {name: call for name, call in calls.items() if name.removesuffix("_sklearn") in metrics}
    out = {}
    for name, call in calls.items():
        times: list[float] = []
        while not times or (len(times) < repeats and times[0] < QUICK):
            start = time.perf_counter()
            values = call()
            times.append(time.perf_counter() - start)
        out[name] = {"seconds": min(times), "calls": len(times), "values": values}
    return out


def _dci_values(r) -> dict[str, float]:
    return {
        "disentanglement": r.disentanglement,
        "completeness": r.completeness,
        "informativeness_train": r.informativeness_train,
        "informativeness_test": r.informativeness_test,
    }


def _explicitness_values(r) -> dict[str, float]:
    return {"explicitness_score_train": r.train, "explicitness_score_test": r.test}


def run_dlib(path: Path, names: list[str], repeats: int) -> dict[str, dict]:
    done = subprocess.run(
        [str(dlib_python()), str(RUNNER), str(path), "--repeats", str(repeats), *names],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def table(ours: dict, theirs: dict) -> tuple[str, bool]:
    head = "| metric | value | untwine | disentanglement_lib | difference | tolerance |"
    rows = [head + " untwine s | dlib s | speed-up |", "|---" * 9 + "|"]
    ok = True
    for name, mine in ours.items():
        ref = theirs["dci" if name == "dci_sklearn" else name]
        tol = TOLERANCE.get(name, 1e-6)
        speed = ref["seconds"] / mine["seconds"]
        for i, (key, value) in enumerate(mine["values"].items()):
            other = ref["values"].get(key, float("nan"))
            diff = value - other
            ok &= bool(abs(diff) <= tol)
            timing = f"{mine['seconds']:.3f} | {ref['seconds']:.2f} | {speed:.1f}x" if i == 0 else " | | "
            label = "dci (learner=sklearn)" if name == "dci_sklearn" else name
            rows.append(
                f"| {label if i == 0 else ''} | {key} | {value:.6f} | {other:.6f} | {diff:+.2e} | "
                f"{tol:g} | {timing} |"
            )
    core = [m for m in CORE if m in ours]
    mine_total = sum(ours[m]["seconds"] for m in core)
    dlib_total = sum(theirs[m]["seconds"] for m in core)
    label = "suite" if len(core) == len(CORE) else "these"
    rows.append(
        f"| **{label}** ({', '.join(core)}) | | | | | | {mine_total:.2f} | "
        f"{dlib_total:.1f} | **{dlib_total / mine_total:.1f}x** |"
    )
    return "\n".join(rows), ok


def quirk_constant_dimension(out: Path) -> str:
    """A constant code dimension: disentanglement_lib's explicitness divides by its zero
    deviation."""
    a = make_arrays(2000, 10, seed=1)
    with_constant = {k: v.copy() for k, v in a.items()}
    with_constant["codes_train"][:, 9] = 0.5
    with_constant["codes_test"][:, 9] = 0.5
    path = out / "constant_dimension.npz"
    np.savez(path, **with_constant)
    theirs = run_dlib(path, ["explicitness"], 1)["explicitness"]
    ours = explicitness(
        with_constant["codes_train"],
        with_constant["factors_train"],
        with_constant["codes_test"],
        with_constant["factors_test"],
    )
    without = explicitness(
        a["codes_train"][:, :9], a["factors_train"], a["codes_test"][:, :9], a["factors_test"]
    )
    dlib = theirs["error"].splitlines()[0] if theirs["error"] else theirs["values"]
    return (
        f"constant code dimension (2,000 samples): disentanglement_lib explicitness -> "
        f"{dlib}; untwine -> test {ours.test:.6f} "
        f"(without the dimension: {without.test:.6f})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="training samples (test: n // 4)")
    p.add_argument("--dims", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    p.add_argument("--dci-sklearn", action="store_true",
                   help="also time untwine's DCI with learner='sklearn' (GradientBoostingClassifier)")
    p.add_argument("--out", type=Path, default=ROOT / "bench-results")
    p.add_argument("--metrics", nargs="+", default=list(CORE), choices=CORE,
                   help="the metrics to compare (default: the whole suite)")
    p.add_argument("--repeats", type=int, default=3,
                   help=f"calls of each metric whose first call takes under {QUICK:.0f} s, on both sides; "
                   "the best time is kept")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    warm = make_arrays(200, args.dims, args.seed)  # loads the cached compiled tree code once
    dci(warm["codes_train"], warm["factors_train"], warm["codes_test"], warm["factors_test"])
    print(f"{args.n:,} training / {args.n // 4:,} test samples, {args.dims} code dimensions, factors "
          f"{SIZES.tolist()}; {os.cpu_count()} CPUs (on a shared machine compare the ratios, not the "
          "seconds)")
    results, all_ok, totals = {}, True, [0.0, 0.0]
    core = [m for m in CORE if m in args.metrics]
    for kind in args.kinds:
        arrays = make_arrays(args.n, args.dims, args.seed, kind)
        path = args.out / f"metrics_arrays_{kind}_{args.n}.npz"
        np.savez(path, **arrays)
        load_before = os.getloadavg()[0]
        theirs = run_dlib(path, core, args.repeats)
        ours = run_untwine(arrays, args.dci_sklearn, args.repeats, core)
        load_after = os.getloadavg()[0]
        text, ok = table(ours, theirs)
        all_ok &= ok
        totals[0] += sum(ours[m]["seconds"] for m in core)
        totals[1] += sum(theirs[m]["seconds"] for m in core)
        print(f"\n### {kind} codes (1-minute load {load_before:.1f} before, {load_after:.1f} after)\n")
        print(text, flush=True)
        results[kind] = {"untwine": ours, "dlib": theirs}
    print(f"\n{', '.join(core)} over all kinds: untwine {totals[0]:.2f} s, "
          f"disentanglement_lib {totals[1]:.1f} s, "
          f"{totals[1] / totals[0]:.1f}x")
    print("\n" + quirk_constant_dimension(args.out))
    (args.out / "metrics_vs_dlib.json").write_text(json.dumps(results, indent=1))
    print("\nall values within tolerance" if all_ok else "\nSOME VALUES OUTSIDE TOLERANCE")


if __name__ == "__main__":
    main()
