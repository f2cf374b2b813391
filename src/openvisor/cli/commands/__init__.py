"""Command modules of `ov`; each exposes ``register(app)``."""
