"""Management API (/api/*), one module per area."""
