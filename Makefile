# The two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test lint deps db-stop clean help

help:
	@echo "make run    start the whole service locally (Postgres found or started for you)"
	@echo "make test   run every test against real PostgreSQL and RabbitMQ"
	@echo "make lint   cargo fmt --check and clippy -D warnings"
	@echo "make db-stop  stop the throwaway Postgres cluster under target/devdb (if one was started)"

deps:
	@scripts/deps.sh

run: deps
	$(CARGO) build --workspace --bins
	$(CARGO) run -q -p fedora-ci-tests --bin local-stack

test: deps
	@scripts/fedora-messaging-venv.sh
	$(CARGO) test --workspace

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

db-stop:
	@d=target/devdb/pg/data; if [ -f $$d/PG_VERSION ]; then \
	  if [ "$$(id -u)" = 0 ]; then runuser -u postgres -- pg_ctl -D $$d -m fast stop; else pg_ctl -D $$d -m fast stop; fi; \
	else echo "no local cluster"; fi

clean: db-stop
	$(CARGO) clean
