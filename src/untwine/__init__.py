"""untwine: interpretable, disentangled representations of images, and explanations through them."""

from untwine.core.version import __version__

__all__ = ["Run", "__version__", "fit", "load_run", "run_all", "train"]


def __getattr__(name: str):
    # Lazy, so `import untwine` stays fast and the CLI's --help does not import torch.
    if name in ("fit",):
        from untwine.train import fit

        return fit
    if name in ("load_run", "train", "Run"):
        from untwine import run

        return getattr(run, name)
    if name == "run_all":
        from untwine.experiment import run_all

        return run_all
    raise AttributeError(f"module 'untwine' has no attribute {name!r}")
