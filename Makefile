# chipreg: `make run` serves the registry, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench bench-scale clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# With no DATABASE_URL, the chain runs on an embedded PostgreSQL (data in var/pg), stopped with the server.
SERVE := $(PY) manage.py migrate --noinput \
	&& $(PY) manage.py init_log_key \
	&& $(PY) manage.py load_catalog \
	&& $(PY) manage.py load_demo \
	&& $(PY) manage.py collectstatic --noinput --verbosity 0 \
	&& exec $(PY) manage.py runserver 127.0.0.1:8000

run: install
	scripts/with-database.sh sh -c '$(SERVE)'

test: install
	scripts/run-tests.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	scripts/with-services.sh $(PY) -m bench

bench-scale: install
	scripts/with-services.sh $(PY) -m bench --scale

clean:
	rm -rf $(VENV) var/pg staticfiles .pytest_cache .ruff_cache
