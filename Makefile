# The two commands a newcomer needs:
#   make up    set up, then run a local chat server (later: the whole network)
#   make test  set up, then run linters and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test lint unit deps system-deps client-deps bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,operator]'
	touch $(STAMP)

deps: $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

# irc-framework for tests/clients (npm ci from the committed lock file), where
# Node.js and npm exist; without them, or if npm fails, those tests skip.
# The same for tests/operator/crdcheck: validators generated from published
# CRDs (CloudNativePG) that the objects the operator creates are checked with.
IRCFW := tests/clients/ircframework
CRDCHECK := tests/operator/crdcheck
client-deps: system-deps
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory $(IRCFW)/node_modules/.installed || \
	        echo "client-deps: npm ci failed; the irc-framework tests will skip" >&2; \
	    $(MAKE) --no-print-directory $(CRDCHECK)/node_modules/.installed || \
	        echo "client-deps: npm ci failed; the CRD schema checks will skip" >&2; \
	else \
	    echo "client-deps: no node or npm; the irc-framework tests and CRD checks will skip" >&2; \
	fi

%/node_modules/.installed: %/package.json %/package-lock.json
	npm ci --prefix $* --no-audit --no-fund --loglevel=error
	touch $@

up: deps
	$(BIN)/chatnet up examples/quickstart.yaml

lint: deps
	$(BIN)/ruff check operator node tests bench
	$(BIN)/ruff format --check operator node tests bench
	$(BIN)/mypy
	PYTHONPATH=operator:node $(BIN)/lint-imports

unit: deps
	$(BIN)/python -m pytest -q

test: deps system-deps client-deps lint
	bash scripts/run-tests.sh

bench: deps
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/fanout.py

# The operator + node image, built offline (debootstrap base, local wheelhouse).
image: deps
	bash scripts/build-image.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(IRCFW)/node_modules $(CRDCHECK)/node_modules
