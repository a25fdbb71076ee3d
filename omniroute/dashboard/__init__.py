"""The web dashboard served at /dashboard (see routes.py)."""
