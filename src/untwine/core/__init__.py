"""The bottom layer: small jobs every other layer needs, each written once.

``io`` atomic writes; ``options`` the strict pydantic base, options from a function's signature,
``KEY=VALUE`` overrides and readable validation errors; ``registry`` the registries that are
untwine's only extension points; ``images`` image grids and PNG files. Nothing here imports any
other part of untwine.
"""
