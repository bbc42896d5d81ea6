# The two commands of the README: `make run` and `make test`. Both build .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint types contracts unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8081` serves the demo on another port; DEMO_ARGS passes more options (e.g. --people 2000).
PORT ?= 8080
DEMO_ARGS ?=
run: $(STAMP)
	$(BIN)/mais demo --port $(PORT) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy src

contracts: $(STAMP)
	$(BIN)/lint-imports

# Test-only: an independent FHIR validator from npm. Without Node.js the test that uses it is skipped, saying why.
node_modules/.installed: package.json
	if ! command -v npm >/dev/null; then echo "npm not found: the independent-validator test will be skipped"; \
	elif npm install --no-audit --no-fund --silent; then touch $@; \
	else echo "npm install failed: the independent-validator test will be skipped"; fi

unit: $(STAMP) node_modules/.installed
	$(BIN)/pytest --cov --cov-report=term

test: lint types contracts unit

# The benchmark (docs/performance.md): wrk from Debian, the fhirstarter peer in its own virtualenv (it pins its own
# FastAPI). About 25 minutes on 2 cores; `make bench BENCH_ARGS=--quick` is a 4-minute smoke run.
PEER := bench/.venv-fhirstarter
$(PEER)/.installed:
	test -x $(PEER)/bin/python || $(PYTHON) -m venv $(PEER)
	$(PEER)/bin/python -m pip install --quiet --disable-pip-version-check 'fhirstarter==4.2.0' uvicorn
	touch $@

bench: $(STAMP) $(PEER)/.installed
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .coverage
