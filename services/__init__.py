"""Everything with I/O: store, ingest, commands, publisher, HTTP API, CLI, embedded servers."""
