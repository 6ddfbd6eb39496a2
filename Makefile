# Two commands for a newcomer: `make demo` and `make test`. Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ledger demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy events projections services

test: lint typecheck
	$(BIN)/pytest -q

# Against PostgreSQL at 127.0.0.1:5432 (user postgres); results in bench/results/.
bench: $(STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.journal_run
	$(BIN)/python -m bench.rebuild
	$(BIN)/python -m bench.metrics_scrape

clean:
	rm -rf $(VENV) .ledger .pytest_cache .mypy_cache .ruff_cache
