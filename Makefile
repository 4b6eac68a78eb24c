# The two commands: `make run` (serve the backend with demo data) and `make test` (pass the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

# Only tests need Debian packages: pcscd + vpcd run the virtual card on the real PC/SC stack, swig and
# libpcsclite-dev build pyscard (the `bridge` extra), pcsc-tools gives pcsc_scan for debugging. The server needs none.
CARD_PACKAGES := pcscd vsmartcard-vpcd swig libpcsclite-dev pcsc-tools
# Certificates (api/certificates): Japanese fonts for the PDFs, and the outside world's checkers (pdfsig with an NSS
# database, pdffonts, pdftoppm, zbarimg). Defined before TEST_PACKAGES: `:=` expands at once, so a later definition
# left a fresh machine without the fonts.
CERTIFICATE_PACKAGES := poppler-utils zbar-tools libnss3-tools fonts-ipaexfont fonts-ipamj-mincho
# SoftHSM2: the PKCS#11 token the key-source tests (tests/softhsm.py) keep their keys in. Chromium: the browser
# suite (tests/web) drives Debian's build through Playwright (never Playwright's own download); fonts-ipaexfont
# renders the Japanese pages in its screenshots.
TEST_PACKAGES := $(CARD_PACKAGES) softhsm2 chromium $(CERTIFICATE_PACKAGES)
# wrk: the HTTP load generator of tests/benchmarks/ (bench_graphql_viewer.py, bench_workers.py).
BENCH_PACKAGES := wrk

.PHONY: run test lint bench card-packages run-packages clean lock audit

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
# libraries (the `bridge` extra); the tests take them. Every dependency comes from a lock file with hashes
# (`make lock` writes them from pyproject.toml's ranges); the project itself is installed without dependencies.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-dev.lock | $(BIN)/python
	@$(MAKE) --no-print-directory card-packages
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e '.[dev,bridge]'
	@touch $@ $(VENV)/.installed

LOCK := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-find-links

lock: $(VENV)/.installed-dev
	$(LOCK) -o requirements.lock pyproject.toml
	$(LOCK) --extra dev --extra bridge -o requirements-dev.lock pyproject.toml

audit: $(VENV)/.installed-dev
	$(BIN)/pip-audit --require-hashes --disable-pip -r requirements-dev.lock

# Sandbox certificates carry the portal's OCSP and CRL addresses: they must name the port it serves on.
# The server itself needs only the certificates' Japanese fonts (embedded in every PDF it issues).
RUN_PACKAGES := fonts-ipaexfont fonts-ipamj-mincho

run-packages:
	@bash scripts/install-system-packages.sh $(RUN_PACKAGES)

run: export MYNAPORTAL_PUBLIC_URL ?= http://$(HOST):$(PORT)
run: $(VENV)/.installed run-packages
	$(BIN)/mynaportal migrate
	$(BIN)/mynaportal demo-seed
	$(BIN)/mynaportal sandbox issue-card --demo
	$(BIN)/myna-bridge virtual-card load --sandbox-pins var/cards
	$(BIN)/mynaportal corporate demo-load
	$(BIN)/mynaportal oidc demo-clients --host $(HOST)
	@token=$$($(BIN)/mynaportal token --quiet --ttl 86400); \
	echo; \
	echo "Mynaportal backend on http://$(HOST):$(PORT)"; \
	echo "  web portal   http://$(HOST):$(PORT)/web/  (TV: /web/tv); card login needs the local helper:"; \
	echo "    $(BIN)/myna-bridge emulate var/cards/taro.json --pcsc &   (the demo card, if no real one)"; \
	echo "    $(BIN)/myna-bridge serve --origin http://$(HOST):$(PORT)   (asks the PIN: 1234)"; \
	echo "    申請 /web/applications: 児童手当, signed through the helper (signature password ABC123); 証明書 /web/certificates"; \
	echo "    staff inbox /web/staff/login with: $(BIN)/mynaportal applications staff --name 鈴木 --role decider"; \
	echo "  GraphiQL     http://$(HOST):$(PORT)/graphql"; \
	echo "  health       http://$(HOST):$(PORT)/healthz   readiness http://$(HOST):$(PORT)/readyz   metrics http://$(HOST):$(PORT)/metrics"; \
	echo "  demo person  山田 太郎 (taro@example.jp); in GraphiQL's headers put:"; \
	echo "    {\"Authorization\": \"Bearer $$token\"}"; \
	echo "  and try: { viewer { name maskedIndividualNumber children { edges { node { name } } } } }"; \
	echo "  corporate-number API docs  http://$(HOST):$(PORT)/corporate/docs (an id: mynaportal corporate app-id create NAME)"; \
	echo "  information exchange (別表第二; API http://$(HOST):$(PORT)/exchange/openapi.json):"; \
	$(BIN)/mynaportal exchange walkthrough; \
	echo "  agencies' systems over mutual TLS: mynaportal exchange client-certificate add SLUG cert.pem, then" \
	     "mynaportal serve-agencies (README: Mutual TLS for agencies' systems)"; \
	echo "  his record, with each entry's proof: { recordHistory(first: 5) { edges { node { duty requester { name } provider { name } outcome proof { leafIndex treeSize rootHash } } } } }"; \
	echo "  子育てワンストップ (児童手当; GraphQL procedures / pittari / startApplication ...; the municipality's API http://$(HOST):$(PORT)/applications/openapi.json):"; \
	draft=$$($(BIN)/mynaportal applications walkthrough | tee /dev/stderr | sed -n 's/^  draft \([0-9a-f-]*\):.*/\1/p'); \
	echo "  sign it with the demo card:  $(BIN)/myna-bridge emulate var/cards/taro.json --pcsc &"; \
	echo "    $(BIN)/myna-bridge login --server http://$(HOST):$(PORT)   (PIN 1234), then"; \
	echo "    $(BIN)/myna-bridge apply --server http://$(HOST):$(PORT) --application $$draft   (password ABC123)"; \
	echo "  Chiyoda accepts it:  key=\$$($(BIN)/mynaportal agency-key --agency chiyoda-city --scope applications:inbox --scope applications:decide)"; \
	echo "    curl -H \"Authorization: Bearer \$$key\" 'http://$(HOST):$(PORT)/applications/inbox?status=received'"; \
	echo "    curl -X POST -H \"Authorization: Bearer \$$key\" -H 'Idempotency-Key: k1' -H 'Content-Type: application/json' -d '{\"status\":\"reviewing\"}' http://$(HOST):$(PORT)/applications/inbox/<受付番号>/moves   (then completed)"; \
	echo "  and the parent's notice: { notices(first: 3) { edges { node { title body } } } }"; \
	echo "  what Chiyoda takes online (national procedures and its own):  key=\$$($(BIN)/mynaportal agency-key --agency chiyoda-city --scope applications:publish)"; \
	echo "    curl -H \"Authorization: Bearer \$$key\" http://$(HOST):$(PORT)/applications/offerings   (PUT / DELETE /applications/offerings/<procedure>)"; \
	echo "  もっとつながる: log in to e-Tax (sandbox) through the portal (OpenID Provider: http://$(HOST):$(PORT)/.well-known/openid-configuration)"; \
	echo "    1. in another terminal: $(BIN)/mynaportal oidc example-rp   (ねんきんネット: --client nenkinsandbox), open http://$(HOST):9100/"; \
	echo "    2. approve the code its login page shows, as the app does: mutation { oidcLoginDecide(shortCode: \"ABCD-EFGH\", approve: true) { clientName status } }"; \
	echo "    3. the RP shows his name and 税・所得; your consents: { oidcConsents { id clientName active } }, withdraw: mutation { oidcConsentWithdraw(id: \"…\") { active } }"; \
	echo "    PAR (RFC 9126): POST /oidc/par (private_key_jwt); signing: POST /oidc/sign (digest, title), then { oidcSignRequest(shortCode: \"…\") { title digest } } and mutation oidcSign (README)"; \
	echo "  payments: $(BIN)/mynaportal dev-payment-gateway --workers 2 (state in the database; 4242424242424242 pays)"; \
	echo "  a notice to everyone expands in chunks: $(BIN)/mynaportal notices-expand (progress bar; resumes after a kill)"; \
	echo "  住民票の写し in the app: mutation { requestCertificate(input: {kind: RESIDENT_RECORD, idempotencyKey: \"1\"}) { id fee paymentOrderId } }"; \
	echo "    pay it: paymentStart(orderId: <paymentOrderId>, method: CARD ...) at the sandbox gateway; then"; \
	echo "    mutation { collectCertificate(id: <id>) { state verificationUrl } }  and  { certificateDocument(id: <id>) { base64 } }"; \
	echo "    its QR page: GET <verificationUrl>; trust root for pdfsig: http://$(HOST):$(PORT)/certificates/v1/trust/root.pem"; \
	echo "  コンビニ交付 kiosk API (http://$(HOST):$(PORT)/openapi/kiosk.json), a kiosk played with the demo card:"; \
	kiosk=$$($(BIN)/mynaportal certificates register-kiosk --terminal "K-$$$$" --store 千代田店 --operator デモマート | sed -n 's/.*(shown once): //p'); \
	echo "    $(BIN)/myna-bridge emulate var/cards/taro.json --pcsc &   then"; \
	echo "    $(BIN)/myna-bridge kiosk --server http://$(HOST):$(PORT) --kiosk-key $$kiosk --output juminhyo.pdf   (PIN 1234)"; \
	echo "    check it: curl -o root.pem http://$(HOST):$(PORT)/certificates/v1/trust/root.pem; certutil -N -d sql:nss --empty-password;" \
	     "certutil -A -d sql:nss -n root -t CT,C,C -i root.pem; pdfsig -nssdir sql:nss juminhyo.pdf"; \
	echo
	@# The log's sequencer gives new exchanges their proofs while the portal serves (production runs it on its own);
	@# the sandbox payment gateway takes the web portal's (and the apps') card and net-banking payments.
	@$(BIN)/mynaportal records sequence & sequencer=$$!; $(BIN)/mynaportal dev-payment-gateway & gateway=$$!; \
	trap 'kill $$sequencer $$gateway' EXIT INT TERM; \
	$(BIN)/mynaportal serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev card-packages
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal --durations=15

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev
	@bash scripts/install-system-packages.sh $(BENCH_PACKAGES)
	$(BIN)/python tests/benchmarks/bench_graphql_viewer.py
	$(BIN)/python tests/benchmarks/bench_card.py
	$(BIN)/python tests/benchmarks/bench_keys.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
