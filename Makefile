# The two commands of the README: `make run` (the bot in your terminal) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run chat test lint bench locales clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## run the bot; with no tokens configured it talks to you in this terminal
	$(BIN)/assessbot run

chat: $(STAMP)
	$(BIN)/assessbot chat

test: $(STAMP)  ## lint, type-check, the whole test suite on SQLite and PostgreSQL, benchmark smoke run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot adapters instruments storage tests bench
	$(BIN)/python -m pytest
	$(BIN)/python -m bench --smoke

bench: $(STAMP)
	$(BIN)/python -m bench

locales: $(STAMP)  ## extract new strings into the catalogs (then translate the Swedish ones)
	$(BIN)/assessbot i18n sync

clean:
	rm -rf $(VENV) build *.egg-info
