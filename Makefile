# The two commands: `make run` (serve the backend with demo data) and `make test` (pass the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Only tests need Debian packages: pcscd + vpcd run the virtual card on the real PC/SC stack, swig and
# libpcsclite-dev build pyscard (the `bridge` extra), pcsc-tools gives pcsc_scan for debugging. The server needs none.
CARD_PACKAGES := pcscd vsmartcard-vpcd swig libpcsclite-dev pcsc-tools
# SoftHSM2: the PKCS#11 token the key-source tests (tests/softhsm.py) keep their keys in.
TEST_PACKAGES := $(CARD_PACKAGES) softhsm2

.PHONY: run test lint bench card-packages clean

# The suite runs in PYTEST_WORKERS processes (pytest-xdist). Each makes its own databases (a SQLite file in its
# temporary directory, a uniquely named PostgreSQL database), binds ports the OS picks and writes only under its
# own temporary directory; the one virtual card reader is taken in turns (a lock file, tests/nfc_bridge).
# `worksteal` lets an idle worker take queued tests from a busy one, so a few long tests do not leave it idle.
# `PYTEST_WORKERS=0 make test` runs in one process; failures print the same either way.
PYTEST_WORKERS ?= 2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

card-packages:
	@bash scripts/install-system-packages.sh $(TEST_PACKAGES)

# Reinstall only when the project's dependencies change. The server's install leaves out the card readers'
# libraries (the `bridge` extra); the tests take them.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	@$(MAKE) --no-print-directory card-packages
	$(BIN)/pip install -q -e '.[dev,bridge]'
	@touch $@ $(VENV)/.installed

# Sandbox certificates carry the portal's OCSP and CRL addresses: they must name the port it serves on.
run: export MYNAPORTAL_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed
	$(BIN)/mynaportal migrate
	$(BIN)/mynaportal demo-seed
	$(BIN)/mynaportal sandbox issue-card --demo
	$(BIN)/myna-bridge virtual-card load --sandbox-pins var/cards
	$(BIN)/mynaportal corporate demo-load
	@token=$$($(BIN)/mynaportal token --quiet --ttl 86400); \
	echo; \
	echo "Mynaportal backend on http://$(HOST):$(PORT)"; \
	echo "  GraphiQL     http://$(HOST):$(PORT)/graphql"; \
	echo "  health       http://$(HOST):$(PORT)/healthz   readiness http://$(HOST):$(PORT)/readyz"; \
	echo "  demo person  山田 太郎 (taro@example.jp); in GraphiQL's headers put:"; \
	echo "    {\"Authorization\": \"Bearer $$token\"}"; \
	echo "  and try: { viewer { name maskedIndividualNumber children { edges { node { name } } } } }"; \
	echo "  corporate-number API docs  http://$(HOST):$(PORT)/corporate/docs (an id: mynaportal corporate app-id create NAME)"; \
	echo "  information exchange (別表第二; API http://$(HOST):$(PORT)/exchange/openapi.json):"; \
	$(BIN)/mynaportal exchange walkthrough; \
	echo "  agencies' systems over mutual TLS: mynaportal exchange client-certificate add SLUG cert.pem, then" \
	     "mynaportal serve-agencies (README: Mutual TLS for agencies' systems)"; \
	echo "  his record, with each entry's proof: { recordHistory(first: 5) { edges { node { duty requester { name } provider { name } outcome proof { leafIndex treeSize rootHash } } } } }"; \
	echo
	@# The log's sequencer gives new exchanges their proofs while the portal serves (production runs it on its own).
	@$(BIN)/mynaportal records sequence & sequencer=$$!; trap 'kill $$sequencer' EXIT INT TERM; \
	$(BIN)/mynaportal serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev card-packages
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=15

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev
	$(BIN)/python tests/benchmarks/bench_graphql_viewer.py
	$(BIN)/python tests/benchmarks/bench_card.py
	$(BIN)/python tests/benchmarks/bench_keys.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
