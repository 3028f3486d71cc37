# Two entry points: `make demo` (set up, then run the demo) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export DVC_NO_ANALYTICS := 1

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Three test workers per core: much of the suite waits on servers, git and DVC children rather
# than computing (2 cores, 2,107 tests, idle machine: 5:31 with 4 workers; 4:04-4:32 with 6,
# three runs green once latency rules stopped judging histogram-bucket noise, min_delta).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 3 )))

.PHONY: install system-deps llama-server demo test test-quick lint bench docs
install: $(VENV)/.installed

# The optional system pieces the tests use, each reported in one line before the tests run:
# Prometheus (Debian's package) for the rollout end-to-end tests, installed where apt-get and
# root allow it (as in CI); llama-server for the tests against a real inference server, built
# once into a cache outside the clone (`make llama-server`). What is missing is said here, and
# those tests skip with their reason in pytest's summary (-ra).
PROMETHEUS_HINT := the rollout end-to-end tests will skip (Debian: sudo apt-get install -y prometheus)
system-deps: install
	@if command -v prometheus >/dev/null 2>&1; then echo "prometheus: $$(command -v prometheus)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing prometheus (apt-get) for the rollout end-to-end tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null) \
			|| echo "prometheus could not be installed; $(PROMETHEUS_HINT)"; \
	else echo "prometheus is not installed: $(PROMETHEUS_HINT)"; fi
	@($(BUILD_LLAMA_SERVER)) \
		|| echo "llama-server could not be built: the tests against llama-server will skip (retry: make llama-server)"

# llama.cpp's server, built by scripts/build_llama_server.sh (the one place that names the
# cache: ~/.cache/gitmodel/llama-server-VERSION/, GITMODEL_LLAMA_CACHE moves it). The first
# build takes 10-20 minutes on 2 cores and writes its log beside the binary; later runs
# only print the path.
BUILD_LLAMA_SERVER = bin="$$(bash scripts/build_llama_server.sh --path)"; \
	if [ -x "$$bin" ]; then echo "llama-server: $$bin"; exit 0; fi; \
	log="$$(dirname "$$bin").log"; mkdir -p "$$(dirname "$$log")"; \
	echo "building llama-server once (10-20 min on 2 cores; log: $$log)"; \
	if PYTHON="$(abspath $(PY))" bash scripts/build_llama_server.sh >"$$log" 2>&1; \
	then echo "llama-server: $$bin"; \
	else echo "llama-server build failed: $$(tail -n 1 "$$log") (log: $$log)"; exit 1; fi
llama-server: install
	@$(BUILD_LLAMA_SERVER)

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

test: install system-deps
	$(VENV)/bin/ruff check gitmodel tests bench
	$(VENV)/bin/ruff format --check gitmodel tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -n $(TEST_WORKERS)

test-quick: install
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow" -x -q

lint: install
	$(VENV)/bin/ruff check gitmodel tests bench
	$(VENV)/bin/ruff format --check gitmodel tests bench
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/registry_scale.py --quick
	$(PY) bench/hooks_speed.py
	$(PY) bench/startup.py
	$(PY) bench/hook_policy.py
	$(PY) bench/host_rollback.py
	$(PY) bench/host_verify.py
	$(PY) bench/hot_bytes.py
	$(PY) bench/untrusted_cost.py
	$(PY) bench/serve_hardening.py
	$(PY) bench/agents_converge.py
	$(PY) bench/lineage.py
	$(PY) bench/checks_cost.py
	$(PY) bench/router_switch.py
	$(PY) bench/move_dates.py
	$(PY) bench/gateway_overhead.py
	$(PY) bench/gateway_rollback.py

# The docs site (mkdocs.yml) into site/: the CLI reference is regenerated from --help
# first, and --strict turns any warning (a broken link, a page outside the nav) into a failure.
docs: install
	$(PY) scripts/gen_cli_reference.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
