"""Stub."""

routes: list = []
