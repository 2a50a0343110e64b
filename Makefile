# The two commands the README gives: `make run` (the whole network) and `make test` (the whole suite).
# Everything they need is installed here from PyPI and the Go module proxy; nothing by hand.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
DOCSTORE := .bin/docstore
# uv verifies TLS against the system's certificates, as pip here does.
export UV_NATIVE_TLS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test test-fast lint contracts bench compose-check clean

install: $(VENV)/.synced $(DOCSTORE)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# FerretDB 1.24 embedded in a tiny Go program (see deploy/local/docstore/main.go for why not `go install`).
$(DOCSTORE): deploy/local/docstore/main.go deploy/local/docstore/go.mod deploy/local/docstore/go.sum
	mkdir -p .bin
	cd deploy/local/docstore && go build -trimpath -o ../../../$(DOCSTORE) .

run: install
	$(PY) -m deploy.local.run

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not integration and not e2e"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy contracts shared services deploy bench

contracts: install
	$(PY) -m contracts.schema_export
	$(PY) -m deploy.local.asyncapi

bench: install
	$(PY) bench/baseline.py

compose-check:
	docker compose config --quiet

clean:
	rm -rf .bin .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
