# Two commands for a newcomer (each sets up its own virtualenv):
#   make demo   - the example project on SQLite with its companion worker: http://127.0.0.1:8000/
#                 and the admin's dashboard (login demo / demo)
#   make demo-celery - the same project in Celery mode: a Celery worker (Redis at 127.0.0.1:6379) runs the tasks
#   make test   - the whole test suite (DBS="sqlite postgresql mysql" for more databases)
# and make docs - the documentation (docs/) in docs/_build/html, warnings as errors, its examples run as tests

PYTHON ?= python3
VENV ?= .venv
DJANGO ?= Django>=5.2,<7
DBS ?= sqlite
PYTEST_ARGS ?=
DEMO_VENV ?= .venv-demo
DEMO_PORT ?= 8000
DOCS_VENV ?= .venv-docs
DOCS_DJANGO ?= Django>=5.2,<7

DB_PACKAGES = $(if $(filter postgresql,$(DBS)),psycopg[binary]>=3.2) $(if $(filter mysql,$(DBS)),mysqlclient>=2.2)
STAMP = $(VENV)/.installed-$(subst $(space),_,$(subst <,lt,$(subst >,gt,$(subst =,eq,$(subst $(comma),_,$(DJANGO) $(DBS))))))
comma := ,
space := $(subst ,, )

.PHONY: test demo demo-celery docs benchmark clean

$(STAMP): setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]' '$(DJANGO)' $(foreach p,$(DB_PACKAGES),'$(p)')
	@# Django's tasks framework: django.tasks from Django 6 on, the django-tasks backport before.
	if $(VENV)/bin/python -c 'import django, sys; sys.exit(django.VERSION >= (6,))'; then \
		$(VENV)/bin/python -m pip install -q -e '.[test,django-tasks]' '$(DJANGO)'; fi
	touch $@

test: $(STAMP)
	@$(VENV)/bin/python -c "import django, sys; print('Python', sys.version.split()[0], 'Django', django.get_version())"
	$(VENV)/bin/python -m django makemigrations autotask --check --dry-run --settings=tests.settings
	@# Several databases run at once, each in its own pytest process (tests/run_suites.py).
	$(VENV)/bin/python -m tests.run_suites $(DBS) $(PYTEST_ARGS)
	@echo "=== tests with USE_TZ = False (SQLite)"
	AUTOTASK_TEST_USE_TZ=0 $(VENV)/bin/python -m pytest $(PYTEST_ARGS) tests/test_tasks.py tests/test_worker.py tests/test_schedules.py tests/test_transactions.py tests/test_history.py

demo:
	@test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	@$(DEMO_VENV)/bin/python -m pip install -q -e .
	cd example && ../$(DEMO_VENV)/bin/python manage.py migrate -v0
	@cd example && ../$(DEMO_VENV)/bin/python manage.py demo_login
	@echo "Open http://127.0.0.1:$(DEMO_PORT)/ to see tasks being stored, run and finished;"
	@echo "the admin's dashboard: http://127.0.0.1:$(DEMO_PORT)/admin/autotask/dashboard/ (user demo, password demo). Ctrl-C stops."
	cd example && ../$(DEMO_VENV)/bin/python manage.py runserver 127.0.0.1:$(DEMO_PORT)

# Celery mode (AUTOTASK_ENGINE = "celery"): a Celery worker beside runserver, both stopped by Ctrl-C.
demo-celery:
	@test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	@$(DEMO_VENV)/bin/python -m pip install -q -e '.[celery]'
	cd example && EXAMPLE_ENGINE=celery ../$(DEMO_VENV)/bin/python manage.py migrate -v0
	@cd example && ../$(DEMO_VENV)/bin/python manage.py demo_login
	@echo "Celery mode: a Celery worker (broker redis://127.0.0.1:6379/0) runs the tasks; no companion worker."
	@echo "Open http://127.0.0.1:$(DEMO_PORT)/ (admin: user demo, password demo). Ctrl-C stops both."
	cd example && export EXAMPLE_ENGINE=celery && \
		{ ../$(DEMO_VENV)/bin/python -m celery -A example worker -l INFO -c 2 & worker=$$!; \
		trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
		../$(DEMO_VENV)/bin/python manage.py runserver 127.0.0.1:$(DEMO_PORT); }

$(DOCS_VENV)/.installed: setup.cfg
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q --upgrade pip
	$(DOCS_VENV)/bin/python -m pip install -q -e '.[docs]' '$(DOCS_DJANGO)'
	touch $@

# The html build, then the pages' examples run against a real worker (sphinx's doctest builder; see docs/conf.py).
docs: $(DOCS_VENV)/.installed
	$(DOCS_VENV)/bin/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	$(DOCS_VENV)/bin/python -m sphinx -W --keep-going -q -b doctest docs docs/_build/doctest
	@echo "The documentation: docs/_build/html/index.html"

benchmark:
	python3 benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_VENV) $(DOCS_VENV) docs/_build build *.egg-info example/db.sqlite3*
