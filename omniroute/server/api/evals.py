"""Placeholder: filled in by its feature."""

routes: list = []
