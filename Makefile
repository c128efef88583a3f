# The README's two commands: `make demo` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
BENCHES := $(filter-out common summary,$(basename $(notdir $(wildcard bench/[a-z]*.py))))

.PHONY: demo test test-random install venv lint format bench soak $(addprefix bench-,$(BENCHES))

demo: venv  ## the whole system on the embedded default: broker, SQLite, radios, the map
	$(BIN)/patroli demo

test: install lint  ## installs what the tests need (apt, TimescaleDB, venv), then ruff and pytest
	$(BIN)/pytest

install:
	bash scripts/install.sh

venv:
	bash scripts/install.sh --venv-only

test-random: install lint  ## every test in a random order (pytest-randomly; the seed is printed): finds order dependence
	$(BIN)/pytest -p randomly

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## every benchmark; figures in bench/results/<name>.json, then the table against the targets
	$(MAKE) -k $(addprefix bench-,$(BENCHES)); status=$$?; $(BIN)/python -m bench.summary; exit $$status

$(addprefix bench-,$(BENCHES)): bench-%:
	$(BIN)/python -m bench.$*

soak: install  ## 10 minutes of radios, contacts and answers, a random service SIGKILLed every 30 s (not in `make test`)
	$(BIN)/python scripts/soak.py --minutes 10

MUTATED := tracker.rules tracker.decode dispatch.unit_index
.PHONY: mutation deadcode

mutation: venv  ## mutation testing of the core pure modules, one module at a time (mutmut): README figures
	rm -rf mutants
	for m in $(MUTATED); do $(BIN)/mutmut run --max-children 2 "$$m.*" > /dev/null || exit 1; done
	$(BIN)/python scripts/mutation_report.py

deadcode: venv  ## vulture over the product code; what only frameworks call is in vulture_whitelist.py
	$(BIN)/vulture
