# micrograd-np. `make run` starts the app, `make test` runs every test; `make` lists the rest.
# The virtualenv .venv is made on demand and reinstalled only when a requirements file changes.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
DEV_STAMP   := $(VENV)/.installed-dev
WEIGHTS     := weights/cat_mlp.npz
PYTEST_ARGS ?=
REPLICAS    ?= 2
PORT        ?= 8080

.DEFAULT_GOAL := help
.PHONY: help run serve test bench data weights screenshots install install-dev clean

help:
	@echo "make run          start the Streamlit app (installs, fetches the data if it can)"
	@echo "make serve        REPLICAS=N Streamlit processes behind nginx on PORT (default 2, 8080); needs nginx"
	@echo "make test         run all tests (unit, app, end-to-end); extra args: PYTEST_ARGS='-k x'"
	@echo "make lint         ruff check (make test runs it first)"
	@echo "make bench        benchmark the engine against hand-written NumPy"
	@echo "make data         put the catvnoncat .h5 files in data/ (\$$CATVNONCAT_DIR, ../shared/data or download)"
	@echo "make weights      retrain the shipped model into $(WEIGHTS)"
	@echo "make screenshots  refresh docs/*.png from the end-to-end tests"
	@echo "make clean        remove install stamps and caches (keeps .venv packages and data/)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

data: install
	$(PY) -m model.fetch

run: install
	@$(PY) -m model.fetch || echo "warning: no dataset; the app still runs on the shipped weights (see the error above)"
	@test -f $(WEIGHTS) || echo "warning: $(WEIGHTS) is missing; run 'make weights' to train it"
	$(VENV)/bin/streamlit run app.py

serve: install
	@$(PY) -m model.fetch || echo "warning: no dataset; the app still runs on the shipped weights (see the error above)"
	REPLICAS=$(REPLICAS) PORT=$(PORT) PYTHON=$(PY) bash deploy/serve.sh

lint: install-dev
	$(VENV)/bin/ruff check .

test: install-dev data lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install-dev data
	$(PY) -m bench

weights: data
	$(PY) -m model.train --epochs 2500 --lr 0.0075 --out $(WEIGHTS)

screenshots: install-dev data
	SCREENSHOTS=docs $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

clean:
	rm -f $(STAMP) $(DEV_STAMP)
	rm -rf .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
