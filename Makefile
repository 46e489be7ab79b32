# Every target creates .venv itself when it is missing; only python3 and make are needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
SPEC_URL ?= https://app.podero.com/api/partners/v2.0/openapi.json

.DEFAULT_GOAL := help
.PHONY: help install generate update-spec check-generated lint typecheck pytest test demo bench bench-smoke soak mutants clean

help:
	@echo "make demo             the main job: the SDK against an embedded fake Podero, no credentials"
	@echo "make test             check-generated, lint, typecheck and the test suite (what CI runs)"
	@echo "make generate         regenerate podero_client/_generated from openapi.json (offline)"
	@echo "make update-spec      pull SPEC_URL, report what changed, regenerate"
	@echo "make check-generated  fail if the committed generated code has drifted"
	@echo "make bench            benchmarks against raw httpx and raw aiohttp; writes BENCHMARKS.md"
	@echo "make soak             20,000 calls against a fake server that misbehaves on ~10 % of them"
	@echo "make lint, typecheck  ruff; mypy --strict on the hand-written code"
	@echo "make mutants          mutation testing of the hand-written modules (mutmut); lists the survivors"

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

# The test suite includes a 2,000-call soak (tests/test_soak.py) with the full soak's pass criteria.
test: check-generated lint typecheck bench-smoke pytest

bench: $(INSTALLED)
	$(PY) scripts/bench.py

# Tiny counts, output into build/, no assertion on time: proves the benchmark still runs.
bench-smoke: $(INSTALLED)
	$(PY) scripts/bench.py --smoke > /dev/null

soak: $(INSTALLED)
	$(PY) scripts/soak.py

# Not part of make test. mutmut ([tool.mutmut] in pyproject.toml) copies the package into
# mutants/, mutates the hand-written modules and runs, per mutant, the tests that cover it.
# Always from scratch, so a result never belongs to older tests; bounded by MUTANTS_TIMEOUT.
MUTANTS_TIMEOUT ?= 3600
mutants: $(INSTALLED)
	rm -rf mutants
	timeout $(MUTANTS_TIMEOUT) $(VENV)/bin/mutmut run --max-children 2; status=$$?; \
	$(VENV)/bin/mutmut results; \
	if [ $$status -eq 124 ]; then echo "make mutants: stopped after $(MUTANTS_TIMEOUT) s, the list above is partial"; fi; \
	exit $$status

demo: $(INSTALLED)
	$(VENV)/bin/podero-client demo

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
