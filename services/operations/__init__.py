"""Day-to-day and bad-day operations: replay, DLQ repair, republish, verify."""
