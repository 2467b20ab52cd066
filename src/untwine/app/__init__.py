"""The local latent explorer: a FastAPI app and a static page served from the package."""

from untwine.app.server import create_app, serve

__all__ = ["create_app", "serve"]
