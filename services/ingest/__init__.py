"""Kafka ``billing.events`` -> event store, exactly-once in effect."""
