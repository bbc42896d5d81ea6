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

run: $(STAMP)
	$(BIN)/mais demo

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

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .coverage
