"""The package version, where every layer can read it (the root package imports upward, lazily)."""

__version__ = "0.1.0"
