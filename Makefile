# Two commands matter: `make run` starts the whole service, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin

API_PORT ?= 8000
STUB_PORT ?= 5000
REDIS_PORT ?= 6379
SMTP_PORT ?= 2525
export API_PORT STUB_PORT REDIS_PORT SMTP_PORT
export FLASK_APP := nootification
export REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
export THIRD_PARTY_URL ?= http://127.0.0.1:$(STUB_PORT)
export PATH := $(BIN):$(PATH)
# The browsers' push services (config.py's default for WEB_PUSH_SERVICE_HOSTS).
KNOWN_PUSH_SERVICES := fcm.googleapis.com,updates.push.services.mozilla.com,*.push.services.mozilla.com,*.push.apple.com,*.notify.windows.com

# The quick start's providers are all the local stub: its HTTP paths and its SMTP server on SMTP_PORT.
# These secrets are dummies that only the stub accepts; they never reach a real provider. Each setting
# can be overridden from the environment or the command line.
run: export SLACK_API_URL ?= http://127.0.0.1:$(STUB_PORT)/slack/api
run: export TELEGRAM_API_URL ?= http://127.0.0.1:$(STUB_PORT)/telegram
run: export TWILIO_API_URL ?= http://127.0.0.1:$(STUB_PORT)/twilio
run: export TWILIO_FROM_NUMBER ?= +15005550006
run: export SMTP_HOST ?= 127.0.0.1
run: export SMTP_SECURITY ?= none
run: export SLACK_BOT_TOKEN ?= xoxb-stub-only
run: export TELEGRAM_BOT_TOKEN ?= 1000000:stub-only
run: export TWILIO_ACCOUNT_SID ?= ACstubonly
run: export TWILIO_AUTH_TOKEN ?= stub-only
# A client written for the original service posts alerts without a signature or token: the quick start
# accepts them (with a warning at start-up); production refuses them.
run: export ALLOW_UNAUTHENTICATED_ALERTS ?= true
# The stub's webhook and Teams endpoints are plain http on loopback, which production refuses.
run: export ALLOW_PRIVATE_WEBHOOK_TARGETS ?= true
# Web Push subscriptions are accepted at the browsers' push services, and here at the stub's too.
run: export WEB_PUSH_SERVICE_HOSTS ?= $(KNOWN_PUSH_SERVICES),127.0.0.1:$(STUB_PORT)
run: export WEBHOOK_SIGNING_SECRET ?= whsec_c3R1Yi1vbmx5LXdlYmhvb2stc2VjcmV0
# The camera vendor is the stub too: each recorded outcome reaches its generic webhook, signed.
run: export VENDOR_OUTCOME_URL ?= http://127.0.0.1:$(STUB_PORT)/webhook/generic/vendor
run: export VENDOR_WEBHOOK_SECRET ?= whsec_c3R1Yi1vbmx5LXdlYmhvb2stc2VjcmV0
# Where staff phones reach the API: every action link sent (SMS, push, chat) starts with it, so it follows
# API_PORT unless it is set (a quick start on another port must not send links to whatever listens on 8000).
run: export PUBLIC_URL ?= http://127.0.0.1:$(API_PORT)
# Signs the ops page's one-minute tickets and the staff's action links: a random key made by the first
# `make run` and kept in var/secret-key, so that links already sent still work after a restart.
run: export SECRET_KEY_FILE ?= $(CURDIR)/var/secret-key
# Native push through the stub: Web Push signed with a VAPID key made by the first `make run`, and FCM with a
# service account made for the stub (the stub trusts its public key only). Both files stay in var/.
run: export WEBPUSH_VAPID_PRIVATE_KEY_FILE ?= $(CURDIR)/var/vapid-private-key
run: export FCM_API_URL ?= http://127.0.0.1:$(STUB_PORT)/fcm
run: export FCM_SERVICE_ACCOUNT_FILE ?= $(CURDIR)/var/fcm-service-account.json
run: export STUB_FCM_SERVICE_ACCOUNTS_FILE ?= $(CURDIR)/var/fcm-stub-accounts.json

.PHONY: install run test e2e chaos fuzz bench lint lock catalog clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed  ## a local virtualenv with every dependency from the lock

# supervisord (ops/supervisord.conf) runs the processes in the foreground and starts again any that dies.
# ops/foreground.py gives it the terminal, so Ctrl-C reaches supervisord and not make: it stops the programs
# one by one, Redis last, and make exits 0. SIGTERM to supervisord's pid (var/supervisord.pid) does the same;
# SIGTERM or SIGHUP to make's process group stops them the same way, make itself then ending by that signal.
# One quick start per checkout: a second would share var/ and instance/, so it stops before touching them.
run: install  ## migrate, load the demo data, then run redis, api, worker, scheduler and stub until Ctrl-C
	@if supervisorctl --configuration ops/supervisord.conf pid >/dev/null 2>&1; then \
	  echo "make run: one already runs from this checkout (supervisord pid $$(cat var/supervisord.pid))" >&2; \
	  exit 1; \
	fi
	@mkdir -p var && [ -n "$$SECRET_KEY" ] || [ -s "$$SECRET_KEY_FILE" ] || \
	  (umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_hex(32))' > "$$SECRET_KEY_FILE")
	@[ -n "$$WEBPUSH_VAPID_PRIVATE_KEY" ] || flask vapid new-key --out "$$WEBPUSH_VAPID_PRIVATE_KEY_FILE"
	python third_party.py --port $(STUB_PORT) --make-fcm-account "$$FCM_SERVICE_ACCOUNT_FILE" \
	  "$$STUB_FCM_SERVICE_ACCOUNTS_FILE"
	flask db upgrade
	flask load-data
	flask tokens demo
	rm -rf var/metrics && mkdir -p var/metrics
	@echo "make run: the API on port $(API_PORT); the links sent point at $(PUBLIC_URL)"
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/metrics \
	  exec python ops/foreground.py supervisord --configuration ops/supervisord.conf

test: install  ## the whole test suite (set TEST_DATABASE_URL to run it on PostgreSQL)
	pytest $(PYTEST_ARGS)

e2e: install  ## check a running stack end to end
	python e2e.py --api http://127.0.0.1:$(API_PORT) --stub http://127.0.0.1:$(STUB_PORT) $(E2E_ARGS)

chaos: install  ## ~2,000 deliveries through provider failures, a killed worker and Redis/API restarts
	python -m bench.chaos $(CHAOS_ARGS)

fuzz: install  ## schemathesis over every operation with more examples than the test suite's 200
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} pytest tests/test_fuzz.py $(PYTEST_ARGS)

bench: install  ## fan-out, steady state and the direct limit at provider latencies 1 and 100 ms, ingest, CPU, RSS (bench/README.md)
	python -m bench.bench $(BENCH_ARGS)

.PHONY: bench-hosts
bench-hosts: install  ## as root: workers on two network-namespace hosts, deliveries/s with 1, 2, 4 of them, a host cut off 30 s (bench/README.md)
	python -m bench.hosts $(HOSTS_ARGS)

.PHONY: soak
soak: install  ## an hour at 20 alerts/s × 10 staff, a fault every 5 minutes: losses, repeats, receipts, memory (bench/README.md)
	python -m bench.soak $(SOAK_ARGS)

.PHONY: bench-volume
bench-volume: install  ## a chain's year of history in PostgreSQL: the bench's figures and every read, empty vs loaded, the purge beside steady load (bench/README.md)
	python -m bench.volume $(VOLUME_ARGS)

lint: install
	ruff check .
	ruff format --check .

lock:  ## after editing pyproject.toml: re-lock and re-export the requirements files
	poetry lock
	poetry export -f requirements.txt --without-hashes -o requirements.txt
	poetry export -f requirements.txt --without-hashes --with dev -o requirements-dev.txt

catalog: install  ## after changing a text people read: var/messages.pot, every text marked for the catalog, for a translator's tools
	@mkdir -p var
	pybabel extract -F babel.cfg -k mark -k _ --no-default-keywords --project nootification -o var/messages.pot .
	@echo "make catalog: add the new texts' translations to nootification/translations/*/LC_MESSAGES/messages.po (tests/test_catalog.py lists them)"

clean:
	rm -rf $(VENV) instance var
