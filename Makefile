# The two commands of the README. Each installs what it needs before it runs.
#   make serve [ARGS="--port 9000 ..."]   run the judge service (GPU + Agent-RRM if a GPU is visible, else the demo model)
#   make test                             lint, type-check and run the whole test suite, real vLLM engine included
# And more for people:
#   make benchmark                        the full benchmark (writes BENCHMARKS.md and docs/bench/*.png; ~20 min on CPU)
#   make dashboard-picture                redraw docs/dashboard.png from a real Prometheus scraping a loaded service
#   make manifests                        regenerate deploy/k8s/ from the Helm chart deploy/helm/agent-rrm

PY := .venv/bin/python
ARGS ?=

.PHONY: serve test setup lint ci-tools benchmark dashboard-picture manifests

setup:
	@scripts/setup.sh

serve: setup
	$(PY) -m service --host 0.0.0.0 $(ARGS)

lint: setup
	$(PY) -m ruff check service trainer_client load_tests tests examples scripts
	$(PY) -m mypy service trainer_client load_tests

ci-tools:
	@scripts/install-ci-tools.sh

test: lint ci-tools
	$(PY) -m pytest

benchmark: setup
	$(PY) -m load_tests.benchmark --out BENCHMARKS.md $(ARGS)

dashboard-picture: setup ci-tools
	$(PY) scripts/dashboard_picture.py --out docs/dashboard.png

manifests: setup
	$(PY) scripts/render_chart.py --write
