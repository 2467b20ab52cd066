"""untwine: interpretable, disentangled representations of images, and explanations through them."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so `import untwine` stays fast and the CLI's --help does not import torch.
    if name in ("fit",):
        from untwine.train import fit

        return fit
    if name in ("load_run", "train", "run_all", "Run"):
        from untwine import run

        return getattr(run, name)
    raise AttributeError(f"module 'untwine' has no attribute {name!r}")
