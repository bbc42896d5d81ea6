# The two commands of the README: `make run` and `make test`. Both build .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSOLE_ASSETS := src/mais_node/console/static/govuk/govuk-frontend.min.css

.PHONY: run test lint types contracts unit bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# `make run PORT=8081` serves the demo on another port; DEMO_ARGS passes more options (e.g. --people 2000).
PORT ?= 8080
DEMO_ARGS ?=
run: $(STAMP) $(CONSOLE_ASSETS)
	$(BIN)/mais demo --port $(PORT) $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: $(STAMP)
	$(BIN)/mypy src

contracts: $(STAMP)
	$(BIN)/lint-imports

# From npm: GOV.UK Frontend for the console; test-only, an independent FHIR validator and axe-core. Without Node.js
# the tests that use them are skipped, saying why.
node_modules/.installed: package.json
	if ! command -v npm >/dev/null; then echo "npm not found: the independent-validator test will be skipped"; \
	elif npm install --no-audit --no-fund --silent; then touch $@; \
	else echo "npm install failed: the independent-validator test will be skipped"; fi

# The console's GOV.UK Frontend files, copied from npm's node_modules into the package (docs/decisions.md).
$(CONSOLE_ASSETS): $(STAMP) node_modules/.installed
	if [ -f node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css ]; then $(BIN)/python -m mais_node.console.assets; \
	else echo "GOV.UK Frontend is not installed (no npm): the console will be unstyled"; fi

# The console's browser tests drive Debian's Chromium (never a downloaded browser); without it they are skipped.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium \
		|| echo "chromium could not be installed: the console's browser tests will be skipped"; \
	else echo "chromium is missing and installing it needs root: the console's browser tests will be skipped"; fi

# The coverage floor ([tool.coverage.report] fail_under) is checked by coverage itself after the run: pytest-cov once
# printed a total under the floor yet exited 0. `coverage report` exits 2 below the floor.
# Two pytest workers (pytest-xdist), a module to a worker so module-scoped servers start once: most of the suite's
# time is real servers starting and answering, which overlaps (22 → 9 min on 2 cores; docs/decisions.md).
# `make unit PYTEST_ARGS='-m "not slow"'` skips the multi-node and browser tests locally; `TEST_WORKERS=0` runs serially.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
unit: $(STAMP) node_modules/.installed $(CONSOLE_ASSETS) browser
	$(BIN)/pytest --cov --cov-report= -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)
	$(BIN)/coverage report --format=total >/dev/null || { echo "coverage $$($(BIN)/coverage report --format=total --fail-under=0)% is under the floor in pyproject.toml"; exit 1; }
	@echo "coverage $$($(BIN)/coverage report --format=total --fail-under=0)% (floor in pyproject.toml)"

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
