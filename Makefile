# `make run` starts Sextant; `make test` runs the whole test suite (the in-process tests first,
# then those that start a server, a worker or a browser); `make test-fast` only the first;
# `make test-embedded` the whole suite on the embedded services `make run` uses.
# All install what they need.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-fast test-embedded chromium clean

$(BIN)/sextant: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/sextant pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/sextant
	$(BIN)/sextant serve

# Browser tests drive Debian's Chromium; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

# The fast tests first (in-process: no server, worker or browser started), then the rest.
FAST := not live_server and not worker and not browser

test: $(VENV)/.test-deps chromium
	$(BIN)/pytest -n 2 -m "$(FAST)" $(PYTEST_ARGS)
	$(BIN)/pytest -n 2 -m "not ($(FAST))" $(PYTEST_ARGS)

test-fast: $(VENV)/.test-deps
	$(BIN)/pytest -n 2 -m "$(FAST)" $(PYTEST_ARGS)

# The same suite on the embedded PostgreSQL 18 and Redis 6.2 that `make run` starts,
# even when local servers answer.
test-embedded: $(VENV)/.test-deps chromium
	SEXTANT_TEST_EMBEDDED=1 $(BIN)/pytest -n 2 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .sextant .pytest_cache
