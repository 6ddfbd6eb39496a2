"""Journal runs and what happens to their entries afterwards (docs/domain.md §3)."""
