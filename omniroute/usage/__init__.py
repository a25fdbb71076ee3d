"""Usage accounting: the batched recorder (pricing and budgets grow here)."""
