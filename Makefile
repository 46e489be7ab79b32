# Every target creates .venv itself when it is missing; only python3 and make are needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SPEC_URL ?= https://app.podero.com/api/partners/v2.0/openapi.json

.DEFAULT_GOAL := help
.PHONY: help install generate update-spec check-generated lint typecheck pytest test demo clean

help:
	@echo "make demo             the main job: the SDK against an embedded fake Podero, no credentials"
	@echo "make test             check-generated, lint, typecheck and the test suite (what CI runs)"
	@echo "make generate         regenerate podero_client/_generated from openapi.json (offline)"
	@echo "make update-spec      pull SPEC_URL, report what changed, regenerate"
	@echo "make check-generated  fail if the committed generated code has drifted"

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(INSTALLED)

generate: $(INSTALLED)
	$(PY) scripts/regenerate.py

update-spec: $(INSTALLED)
	$(PY) scripts/regenerate.py --url $(SPEC_URL)

check-generated: $(INSTALLED)
	$(PY) scripts/regenerate.py --check

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(INSTALLED)
	$(PY) -m mypy

pytest: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

test: check-generated lint typecheck pytest

demo: $(INSTALLED)
	$(VENV)/bin/podero-client demo

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
