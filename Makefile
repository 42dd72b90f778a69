# Two commands matter: `make run` starts the whole service, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin

API_PORT ?= 8000
STUB_PORT ?= 5000
REDIS_PORT ?= 6379
export API_PORT STUB_PORT REDIS_PORT
export FLASK_APP := nootification
export REDIS_URL ?= redis://127.0.0.1:$(REDIS_PORT)/0
export THIRD_PARTY_URL ?= http://127.0.0.1:$(STUB_PORT)
export PATH := $(BIN):$(PATH)

.PHONY: install run test e2e chaos bench lint lock clean

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed  ## a local virtualenv with every dependency from the lock

run: install  ## migrate, load the demo data, then run redis, api, worker, scheduler and stub until Ctrl-C
	flask db upgrade
	flask load-data
	exec honcho start --procfile Procfile

test: install  ## the whole test suite (set TEST_DATABASE_URL to run it on PostgreSQL)
	pytest $(PYTEST_ARGS)

e2e: install  ## check a running stack end to end
	python e2e.py --api http://127.0.0.1:$(API_PORT) --stub http://127.0.0.1:$(STUB_PORT) $(E2E_ARGS)

chaos: install  ## ~2,000 deliveries through provider failures, a killed worker and Redis/API restarts
	python -m bench.chaos $(CHAOS_ARGS)

bench: install  ## ingest latency, fan-out, steady state, the direct limit and peak RSS (see bench/README.md)
	python -m bench.bench $(BENCH_ARGS)

lint: install
	ruff check .
	ruff format --check .

lock:  ## after editing pyproject.toml: re-lock and re-export the requirements files
	poetry lock
	poetry export -f requirements.txt --without-hashes -o requirements.txt
	poetry export -f requirements.txt --without-hashes --with dev -o requirements-dev.txt

clean:
	rm -rf $(VENV) instance var
