"""The HTTP layer: routes, dependencies, views and the error envelope."""
