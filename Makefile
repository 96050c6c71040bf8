# Two commands set everything up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := dev,aws,infra,gcp,azure

.PHONY: demo test lint typecheck pytest fuzz bench clean

PIP_FLAGS := --progress-bar off --disable-pip-version-check

$(BIN)/python:
	@echo "==> creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --quiet --upgrade pip

# The core alone: what `make demo` needs.
$(VENV)/.core: $(BIN)/python pyproject.toml
	@echo "==> installing faas-dispatcher and its core dependencies (pydantic, typer, rich)"
	$(BIN)/pip install $(PIP_FLAGS) -e .
	touch $@

# Everything the tests and benchmarks need: Python extras, then npm packages.
$(VENV)/.dev: $(BIN)/python pyproject.toml
	@echo "==> installing faas-dispatcher with the extras $(EXTRAS) (SDKs, emulators, linters)"
	$(BIN)/pip install $(PIP_FLAGS) -e '.[$(EXTRAS)]'
	touch $@ $(VENV)/.core

# Validators that pin their own dependencies get their own virtual environments: checkov (it
# pins an old boto3 and replaces python-hcl2's module), cfn-lint with aws-sam-translator (it
# pins pydantic to one minor release).
TOOLS := .tools
TOOL_STAMPS := $(TOOLS)/checkov/.installed $(TOOLS)/cfn/.installed

$(TOOLS)/checkov/.installed:
	@echo "==> installing checkov into its own environment $(TOOLS)/checkov"
	$(PYTHON) -m venv $(TOOLS)/checkov
	$(TOOLS)/checkov/bin/pip install $(PIP_FLAGS) 'checkov>=3.2,<4'
	touch $@

$(TOOLS)/cfn/.installed:
	@echo "==> installing cfn-lint and the SAM translator into $(TOOLS)/cfn"
	$(PYTHON) -m venv $(TOOLS)/cfn
	$(TOOLS)/cfn/bin/pip install $(PIP_FLAGS) 'cfn-lint>=1.20,<2' 'aws-sam-translator>=1.90' 'pyyaml>=6'
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> installing the npm packages of package.json (the Serverless Framework, Azurite)"
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
