# The two commands the README gives: `make run` (the whole network) and `make test` (the whole suite).
# Everything they need is installed here from PyPI, the Go module proxy and the npm registry (with the
# machine's Go and Node.js/npm); nothing by hand.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
DOCSTORE := .bin/docstore
MAILPIT_VERSION := v1.33.1
MAILPIT := .bin/mailpit
# The docs pages' scripts and styles (Swagger UI, the AsyncAPI viewer), served by the services: no CDN.
WEB_ASSETS := .bin/web/.installed
# The OpenID Connect provider the console's sign-in tests run (tests/oidc, oidc-provider from npm).
OIDC_PROVIDER := .bin/oidc-provider.installed
# `docker compose config` checks docker-compose.yml; the docker client here has no compose plugin,
# so one is built from the Go module proxy when missing (no container engine is needed for `config`).
COMPOSE_VERSION := v2.32.4
COMPOSE_PLUGIN := .bin/docker/cli-plugins/docker-compose
# uv verifies TLS against the system's certificates, as pip here does.
export UV_NATIVE_TLS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install compose-plugin chromium run test test-fast lint contracts bench bench-crisis bench-notifications bench-meetings bench-mentoring bench-insights compose-check clean

install: $(VENV)/.synced $(DOCSTORE) $(MAILPIT) $(WEB_ASSETS) $(OIDC_PROVIDER)

compose-plugin:
	@if docker compose version >/dev/null 2>&1 || [ -x $(COMPOSE_PLUGIN) ] || ! command -v docker >/dev/null; then :; else \
		echo "building the docker compose plugin $(COMPOSE_VERSION) with Go ..."; \
		mkdir -p .bin/gobin $(dir $(COMPOSE_PLUGIN)) && \
		GOBIN=$(CURDIR)/.bin/gobin go install github.com/docker/compose/v2/cmd@$(COMPOSE_VERSION) && \
		mv .bin/gobin/cmd $(COMPOSE_PLUGIN); fi

# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
CHROMIUM := /usr/bin/chromium
chromium:
	@if [ -x $(CHROMIUM) ]; then :; else \
		echo "installing Debian's chromium for the browser tests ..."; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; fi

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

# FerretDB 1.24 embedded in a tiny Go program (see deploy/local/docstore/main.go for why not `go install`).
# One FerretDB file is replaced by our patched copy (deploy/local/docstore/overlay/): Go refuses to
# overlay files in its module cache, so the build copies the module out and points a `replace` at it.
DOCSTORE_SRC := deploy/local/docstore
FERRETDB_SRC := .bin/ferretdb-src
$(DOCSTORE): $(DOCSTORE_SRC)/main.go $(DOCSTORE_SRC)/go.mod $(DOCSTORE_SRC)/go.sum $(DOCSTORE_SRC)/overlay/sqlite_collection.go
	mkdir -p .bin
	rm -rf $(FERRETDB_SRC)
	cd $(DOCSTORE_SRC) && go mod download github.com/FerretDB/FerretDB && \
	  cp -r "$$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)" $(CURDIR)/$(FERRETDB_SRC)
	chmod -R u+w $(FERRETDB_SRC)
	cp $(DOCSTORE_SRC)/overlay/sqlite_collection.go $(FERRETDB_SRC)/internal/backends/sqlite/collection.go
	cp $(DOCSTORE_SRC)/go.mod .bin/docstore.mod
	cp $(DOCSTORE_SRC)/go.sum .bin/docstore.sum
	cd $(DOCSTORE_SRC) && go mod edit -modfile=$(CURDIR)/.bin/docstore.mod \
	    -replace github.com/FerretDB/FerretDB=$(CURDIR)/$(FERRETDB_SRC) && \
	  go build -trimpath -modfile=$(CURDIR)/.bin/docstore.mod -o ../../../$(DOCSTORE) .

# Mailpit, the local mail server `make run` and the tests send email to (SMTP in; web UI and API out),
# from the Go module proxy. Its web UI's scripts are built with npm upstream and are not in the Go module,
# so the page at :8025 stays blank; the API (/api/v1/messages) answers. A new version: rm .bin/mailpit.
$(MAILPIT):
	mkdir -p .bin/gobin
	GOBIN=$(CURDIR)/.bin/gobin go install -ldflags "-X github.com/axllent/mailpit/config.Version=$(MAILPIT_VERSION)" \
	  github.com/axllent/mailpit@$(MAILPIT_VERSION)
	mv .bin/gobin/mailpit $@

# From the npm registry with npm (Node.js is on the machine): only the files the pages load, pinned by sha512.
$(WEB_ASSETS): deploy/local/webassets.py $(VENV)/.synced
	$(PY) -m deploy.local.webassets
	touch $@

# Exactly the versions in its lock file (checked against their integrity hashes), no install scripts.
$(OIDC_PROVIDER): tests/oidc/package.json tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --ignore-scripts --no-audit --no-fund
	mkdir -p $(dir $@)
	touch $@

run: install
	$(PY) -m deploy.local.run

test: install compose-plugin chromium
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not integration and not e2e and not fault"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy contracts shared services deploy bench

contracts: install
	$(PY) -m contracts.schema_export
	$(PY) -m deploy.local.asyncapi
	$(PY) -m deploy.local.natsconf

bench: install
	$(PY) bench/baseline.py

bench-crisis: install
	$(PY) bench/crisis_latency.py

bench-notifications: install
	$(PY) bench/notifications_fanout.py

bench-meetings: install
	$(PY) bench/meetings_directory.py

bench-mentoring: install
	$(PY) bench/mentoring_matching.py

bench-insights: install
	$(PY) bench/insights_ingest.py

compose-check: compose-plugin
	$(PY) -m pytest tests/deploy/test_compose.py

clean:
	rm -rf .bin .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
