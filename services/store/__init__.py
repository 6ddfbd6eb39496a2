"""The PostgreSQL event store: migrations, the append-only log, gap-safe reads."""
