# Two entry points: `make demo` (set up, then run the demo) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
export DVC_NO_ANALYTICS := 1

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: install demo test test-quick lint bench
install: $(VENV)/.installed

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

test: install
	$(VENV)/bin/ruff check gitmodel tests bench
	$(VENV)/bin/ruff format --check gitmodel tests bench
	$(VENV)/bin/mypy
	$(PY) -m pytest -n auto

test-quick: install
	$(PY) -m pytest -n auto -m "not slow" -x -q

lint: install
	$(VENV)/bin/ruff check gitmodel tests bench
	$(VENV)/bin/ruff format --check gitmodel tests bench
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/registry_scale.py
	$(PY) bench/hooks_speed.py
	$(PY) bench/host_rollback.py
	$(PY) bench/agents_converge.py
