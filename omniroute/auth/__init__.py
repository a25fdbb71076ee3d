"""Secrets at rest, passwords, sessions and API keys."""
