# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: venv run test lint bench chaos chaos-quick db clean-venv

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

db: venv
	$(BIN)/showdown db upgrade

run: venv db
	$(BIN)/showdown run

test: venv
	bash tools/ensure-mariadb.sh
	bash tools/ensure-web-tools.sh
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy engine

bench: venv
	bash tools/ensure-mariadb.sh
	bash tools/ensure-web-tools.sh
	$(BIN)/python tests/bench/run_all.py

chaos: venv
	bash tools/ensure-mariadb.sh
	PYTHON=$(BIN)/python bash tests/chaos/run_all.sh

chaos-quick: venv
	bash tools/ensure-mariadb.sh
	PYTHON=$(BIN)/python bash tests/chaos/run_all.sh --quick

clean-venv:
	rm -rf $(VENV)
