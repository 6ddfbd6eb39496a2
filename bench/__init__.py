"""Benchmarks of billing-ledger, run against real servers (not part of the test run).

- ``python -m bench.ingest``: ingest throughput and memory against a bare aiokafka→COPY pipe.
"""
