# make run  — create .venv, install, migrate, serve on http://127.0.0.1:8000
# make test — install test needs, run the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Bytecode caches, kept under .venv/pycache rather than beside the sources. Where the
# environment sets PYTHONDONTWRITEBYTECODE (this machine's does), every Python process (each
# test worker, each server and worker a test starts, each schemathesis run) compiled the app
# and the tests from source again: about 6 s of CPU for one pytest collection alone.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache

.PHONY: run test install migrate worker bench clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/takes migrate

run: migrate
	$(BIN)/takes serve --host $(HOST) --port $(PORT)

worker: install
	$(BIN)/takes worker

# Three pytest-xdist workers on the two cores, tests handed out one by one as workers free up
# (worksteal): many tests spend part of their time waiting on a server, a worker process or a
# browser, and a third worker fills those waits (a subset took 52 s on three against 110 s on
# two, docs/benchmarks.md). `make test PYTEST_WORKERS=0` runs in one process. Each worker has its
# own PostgreSQL database and Redis database (tests/support/db.py, services.py). Tests marked
# `solo` (the fault storm, whose bounds are times) run after, alone. Tests marked `long` start
# first, spread over the workers (tests/support/schedule.py).
PYTEST_WORKERS ?= 3

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not solo" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m solo $(PYTEST_ARGS)

screenshots: $(VENV)/.installed-test  ## docs/screenshots/: every main page at 1440x900 and 390x844
	$(BIN)/python docs/screenshots/make.py

clean:
	rm -rf $(VENV) .pytest_cache
