# The two commands of the README. Each installs what it needs (scripts/setup.sh) before it runs.
#   make serve [ARGS="--port 9000 ..."]   run the judge service (GPU + Agent-RRM if a GPU is visible, else the demo model)
#   make test                             lint, type-check and run the whole test suite, real vLLM engine included

PY := .venv/bin/python
ARGS ?=

.PHONY: serve test setup lint

setup:
	@scripts/setup.sh

serve: setup
	$(PY) -m service --host 0.0.0.0 $(ARGS)

lint: setup
	$(PY) -m ruff check service trainer_client load_tests tests
	$(PY) -m mypy service trainer_client load_tests

test: lint
	$(PY) -m pytest
