# Two commands set everything up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := dev,aws,infra

.PHONY: demo test lint typecheck pytest fuzz bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The core alone: what `make demo` needs.
$(VENV)/.core: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything the tests and benchmarks need: Python extras, then npm packages.
$(VENV)/.dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $@ $(VENV)/.core

# Validators that pin their own dependencies get their own virtual environments: checkov (it
# pins an old boto3 and replaces python-hcl2's module), cfn-lint with aws-sam-translator (it
# pins pydantic to one minor release).
TOOLS := .tools
TOOL_STAMPS := $(TOOLS)/checkov/.installed $(TOOLS)/cfn/.installed

$(TOOLS)/checkov/.installed:
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

$(TOOLS)/cfn/.installed:
	$(PYTHON) -m venv $(TOOLS)/cfn
	$(TOOLS)/cfn/bin/pip install --quiet 'cfn-lint>=1.20,<2' 'aws-sam-translator>=1.90' 'pyyaml>=6'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.core
	$(BIN)/python -m samples.demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

pytest: $(VENV)/.dev node_modules/.installed $(TOOL_STAMPS)
	$(BIN)/pytest

test: lint typecheck pytest

# The envelope's property-based tests, far longer than `make test` runs them (failures are kept
# in .hypothesis/ and replayed first next time). FUZZ_EXAMPLES sets how many bodies per property.
FUZZ_EXAMPLES ?= 20000
fuzz: $(VENV)/.dev
	HYPOTHESIS_PROFILE=fuzz FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q \
		--hypothesis-show-statistics tests/core/test_envelope_fuzz.py

bench: $(VENV)/.dev node_modules/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) node_modules .dispatcher .mypy_cache .ruff_cache .pytest_cache .hypothesis $(TOOLS)
