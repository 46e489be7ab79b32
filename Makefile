# Every target creates its environment itself when it is missing; only python3 and make are needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO_VENV := .venv-demo
# make dist: build and hatchling alone, pinned, in their own small venv (not the test toolchain).
DIST_VENV := .venv-dist
DIST_TOOLS := build==1.6.1 hatchling==1.33.0
SPEC_URL ?= https://app.podero.com/api/partners/v2.0/openapi.json
PIP := -m pip install --quiet --disable-pip-version-check

# Which interpreter a venv was made from. A venv made by another Python (another version, or
# one since removed) is rebuilt, not reused; the stamps carry this so that a change shows.
VENV_ID = import sys; print(sys.base_prefix, *sys.version_info[:3])
PYTHON_ID := $(shell $(PYTHON) -c '$(VENV_ID)' 2>/dev/null)
PYTHON_TAG := $(shell echo '$(PYTHON_ID)' | cksum | cut -d' ' -f1)
INSTALLED := $(VENV)/.installed-$(PYTHON_TAG)
DEMO_INSTALLED := $(DEMO_VENV)/.installed-$(PYTHON_TAG)
DIST_INSTALLED := $(DIST_VENV)/.installed-$(PYTHON_TAG)

# $(call venv,DIR[,OPTIONS]): DIR is a venv of $(PYTHON) afterwards.
define venv
	@if [ "$$($(1)/bin/python -c '$(VENV_ID)' 2>/dev/null)" != "$(PYTHON_ID)" ]; then \
		echo "creating $(1) with $(PYTHON) ($(PYTHON_ID))"; rm -rf $(1) && $(PYTHON) -m venv $(2) $(1); fi
	@rm -f $(1)/.installed*
endef

.DEFAULT_GOAL := help
.PHONY: help install generate update-spec check-generated docs check-docs lint typecheck pytest coverage test demo dist \
	bench bench-smoke soak mutants fuzz-spec clean

help:
	@echo "make demo             the main job: the SDK against an embedded fake Podero, no credentials"
	@echo "                      (its own light environment, $(DEMO_VENV): the package and its demo extra;"
	@echo "                      then 'source $(DEMO_VENV)/bin/activate' puts podero-client on the PATH)"
	@echo "make test             check-generated, check-docs, lint, typecheck, bench-smoke and the test suite (CI)"
	@echo "make install          create $(VENV) with the package, all extras and the pinned dev tools"
	@echo "make pytest           only the test suite; PYTEST_ARGS='-k watch -x' passes options on"
	@echo "make coverage         the test suite under coverage.py: branch coverage of podero_client, with a floor"
	@echo "make generate         regenerate podero_client/_generated from openapi.json (offline)"
	@echo "make update-spec      pull SPEC_URL, report what changed, regenerate (ALLOW_BREAKING=1 to accept breaking changes,"
	@echo "                      ALLOW_HTTP=1 for a plain http SPEC_URL)"
	@echo "make check-generated  fail if the committed generated code has drifted"
	@echo "make docs             write docs/api.md (the API reference) from the spec and the code; check-docs fails if it is stale"
	@echo "make lint, typecheck  ruff; mypy --strict on the hand-written code"
	@echo "make dist             build the sdist and the wheel into dist/ (build and hatchling only, in $(DIST_VENV))"
	@echo "make bench            benchmarks against raw httpx and raw aiohttp, the request budget, the fleet,"
	@echo "                      telemetry and replicas sharing a fleet (Redis); writes BENCHMARKS.md"
	@echo "make bench-smoke      the benchmark at tiny counts: proves it still runs"
	@echo "make soak             20,000 calls against a fake server that misbehaves on ~10 % of them"
	@echo "make fuzz-spec        mutated specs through normalize, generate and the smoke run (FUZZ_BUDGET s)"
	@echo "make mutants          mutation testing of the hand-written modules (mutmut); lists the survivors"
	@echo "make clean            remove $(VENV), $(DEMO_VENV), $(DIST_VENV), build/, dist/ and the tools' caches"

$(INSTALLED): pyproject.toml
	$(call venv,$(VENV))
	$(PY) $(PIP) --upgrade pip
	$(PY) $(PIP) -e '.[testing,redis,otel,demo]' --group dev
	touch $@

# Only what the demo runs on: no generator, linters, type checker or plotting. The base
# interpreter's pip installs into it, when it has one: ensurepip alone takes longer than the demo.
$(DEMO_INSTALLED): pyproject.toml
	$(call venv,$(DEMO_VENV),--without-pip)
	@if $(PYTHON) -m pip --version > /dev/null 2>&1; then \
		echo "$(PYTHON) -m pip --python $(DEMO_VENV)/bin/python install -e '.[demo]'"; \
		$(PYTHON) -m pip --python $(DEMO_VENV)/bin/python install --quiet --disable-pip-version-check -e '.[demo]'; \
	else \
		$(DEMO_VENV)/bin/python -m ensurepip --default-pip > /dev/null && $(DEMO_VENV)/bin/python $(PIP) -e '.[demo]'; \
	fi
	touch $@

# Only the build tools; the same pip-from-the-base-interpreter shortcut as the demo's venv.
$(DIST_INSTALLED): Makefile
	$(call venv,$(DIST_VENV),--without-pip)
	@if $(PYTHON) -m pip --version > /dev/null 2>&1; then \
		$(PYTHON) -m pip --python $(DIST_VENV)/bin/python install --quiet --disable-pip-version-check $(DIST_TOOLS); \
	else \
		$(DIST_VENV)/bin/python -m ensurepip --default-pip > /dev/null && $(DIST_VENV)/bin/python $(PIP) $(DIST_TOOLS); \
	fi
	touch $@

install: $(INSTALLED)

# The API reference is written from the spec and the generated code, so it follows each regeneration.
generate: $(INSTALLED)
	$(PY) scripts/regenerate.py --docs docs/api.md

# Refuses (exit 2, nothing changed) a spec that breaks code written for the current client,
# unless ALLOW_BREAKING=1. SPEC_URL must be https unless ALLOW_HTTP=1 (an internal mirror).
update-spec: $(INSTALLED)
	$(PY) scripts/regenerate.py --docs docs/api.md --url $(SPEC_URL)$(if $(filter 1,$(ALLOW_BREAKING)), --allow-breaking)$(if $(filter 1,$(ALLOW_HTTP)), --allow-http)

docs: $(INSTALLED)
	$(PY) scripts/api_reference.py

check-docs: $(INSTALLED)
	$(PY) scripts/api_reference.py --check

check-generated: $(INSTALLED)
	$(PY) scripts/regenerate.py --check

lint: $(INSTALLED)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(INSTALLED)
	$(PY) -m mypy

pytest: $(INSTALLED)
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite under coverage.py: branch coverage of the hand-written layer (the Python
# subprocesses the tests start too: the CLI, the doc blocks), the figure per module and in
# total, and a failure below the floor ([tool.coverage.report] fail_under).
coverage: $(INSTALLED)
	$(PY) -m coverage erase
	$(PY) -m coverage run -m pytest $(PYTEST_ARGS)
	$(PY) -m coverage combine --quiet
	$(PY) -m coverage report

# The test suite includes a 2,000-call soak (tests/test_soak.py) with the full soak's pass criteria.
test: check-generated check-docs lint typecheck bench-smoke coverage

bench: $(INSTALLED)
	$(PY) scripts/bench.py
	$(PY) scripts/bench_budget.py
	$(PY) scripts/bench_fleet.py
	$(PY) scripts/bench_fleet.py --wallboxes 100000 --rate 1000 --interval 30 --section fleet-100k
	$(PY) scripts/bench_telemetry.py
	$(PY) scripts/bench_replicas.py
	$(PY) scripts/bench_layers.py

# Tiny counts, output into build/, no assertion on time: proves the benchmark still runs.
# The six at once (they mostly wait on their servers: 35 s instead of 72 s), by make -j; each
# one's output goes to build/smoke-NAME.log, shown when it fails.
SMOKES := bench bench_budget bench_fleet bench_telemetry bench_replicas bench_layers
bench-smoke: $(INSTALLED)
	@mkdir -p build
	@$(MAKE) --no-print-directory -j$(words $(SMOKES)) $(SMOKES:%=smoke-%)

smoke-%: $(INSTALLED)
	@$(PY) scripts/$*.py --smoke > build/smoke-$*.log 2>&1 || { echo "bench-smoke: $* FAILED:"; cat build/smoke-$*.log; exit 1; }
	@echo "bench-smoke: $* ok"

soak: $(INSTALLED)
	$(PY) scripts/soak.py

demo: $(DEMO_INSTALLED)
	$(DEMO_VENV)/bin/podero-client demo

# --no-isolation: the build backend is already in $(DIST_VENV); no download, no second venv.
dist: $(DIST_INSTALLED)
	rm -rf dist
	$(DIST_VENV)/bin/python -m build --no-isolation --outdir dist .

# Not part of make test: hostile names, enum values, tags, operationIds and refs in the pinned
# and upstream specs; each mutant regenerates and smoke-runs, or is refused with one line.
FUZZ_BUDGET ?= 240
fuzz-spec: $(INSTALLED)
	$(PY) scripts/fuzz_spec.py --budget $(FUZZ_BUDGET)

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

clean:
	rm -rf $(VENV) $(DEMO_VENV) $(DIST_VENV) build dist .mypy_cache .pytest_cache .ruff_cache .coverage .coverage.*
