"""The ASGI application: client routes per dialect, management routes per area."""
