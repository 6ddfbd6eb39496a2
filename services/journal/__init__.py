"""Journal runs and what happens to their entries afterwards (DOMAIN.md §3)."""
