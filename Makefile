# The README's two commands: `make demo` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
BENCHES := $(basename $(notdir $(wildcard bench/[a-z]*.py)))

.PHONY: demo test install venv lint format bench soak $(addprefix bench-,$(BENCHES))

demo: venv  ## the whole system on the embedded default: broker, SQLite, radios, the map
	$(BIN)/patroli demo

test: install lint  ## installs what the tests need (apt, TimescaleDB, venv), then ruff and pytest
	$(BIN)/pytest

install:
	bash scripts/install.sh

venv:
	bash scripts/install.sh --venv-only

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install $(addprefix bench-,$(BENCHES))  ## every benchmark; figures in bench/results/<name>.json

$(addprefix bench-,$(BENCHES)): bench-%:
	$(BIN)/python -m bench.$*

soak: install  ## 10 minutes of radios, contacts and answers, a random service SIGKILLed every 30 s (not in `make test`)
	$(BIN)/python scripts/soak.py --minutes 10
