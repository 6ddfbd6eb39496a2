"""The PostgreSQL event store: migrations, the append-only log, batched appends."""
