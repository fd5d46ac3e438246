# vixray — every target installs what it needs first; re-running install is instant.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# The CPU build of torch; an unpinned torch pulls a multi-GB CUDA build. Override for GPUs: make install TORCH=torch==2.13.0
TORCH  ?= torch==2.13.0

# make tune EXP=dev DATA=csv:../shared/data ADDRESS=ray://head:10001 STORAGE=s3://bucket/prefix RESUME=1
# (EXP names experiments/search/EXP.yaml; DATA defaults to the experiment's; STORAGE holds Ray's state on a cluster)
EXP     ?= quick
DATA    ?=
ADDRESS ?=
STORAGE ?=
RESUME  ?=
RESULTS ?= results
PORT    ?= 8050

.PHONY: install browser test test-fast lint bench tune evaluate dashboard clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

CODE := vixray dashboards tests benchmarks

# ruff (lint and format) everywhere; mypy over vixray/ and dashboards/ ([tool.mypy] in pyproject.toml)
lint: install
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/mypy

# Headless Chromium for the dashboard's browser test (Debian packages; skipped with a reason if it cannot install).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  ( $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null ) \
	  || echo "warning: could not install chromium; the browser test will be skipped"; }

test: install browser lint
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_tune.py
	$(PY) benchmarks/bench_scale.py

tune: install
	$(VENV)/bin/vixray tune --experiment experiments/search/$(EXP).yaml --results $(RESULTS) $(if $(DATA),--data $(DATA)) \
		$(if $(ADDRESS),--address $(ADDRESS)) $(if $(STORAGE),--storage '$(STORAGE)') $(if $(RESUME),--resume latest)

evaluate: install
	$(VENV)/bin/vixray evaluate --best --results $(RESULTS) $(if $(DATA),--data $(DATA))

dashboard: install
	$(VENV)/bin/vixray dashboard --results $(RESULTS) --port $(PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
