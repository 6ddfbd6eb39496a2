"""Operator commands: validate against the projections, append events, apply, outbox.

Each command is one PostgreSQL transaction; a refused command writes nothing.
"""
