"""Routing: model name to targets, and the choice of account for each target."""
