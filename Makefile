# The two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
CARGO ?= cargo
# Every deployable binary: one image each (make image), each measured by make bench.
FUNCTIONS := pr-opened koji-finished tf-finished result-poller api fedmsg-bridge

.PHONY: run demo test lint deps db-stop clean help deploy-check image ansible-venv ansible-sync bench bench-binaries bench-long soak

help:
	@echo "make run    start the whole service locally (Postgres found or started for you)"
	@echo "make test   run every test against real PostgreSQL and RabbitMQ"
	@echo "make lint   cargo fmt --check and clippy -D warnings"
	@echo "make bench  measure cold start, memory, throughput, latency, and the cost curves at small sizes (target/bench/report.json)"
	@echo "make bench-long  the cost curves only, up to 100k pending rows and 2M pipelines (target/bench/report-long.json)"
	@echo "make soak   the long reliability runs: 1,000,000 fuzz inputs per target"
	@echo "make db-stop  stop the throwaway Postgres cluster under target/devdb (if one was started)"
	@echo "make deploy-check  validate knative/ overlays, compose.yaml, Containerfile, ansible (no cluster needed)"
	@echo "make image  build one image per function with podman or buildah (IMAGE_TAG=dev)"

deps:
	@scripts/deps.sh

run: deps
	$(CARGO) build --workspace --bins
	$(CARGO) run -q -p fedora-ci-tests --bin local-stack

test: deps ansible-venv
	@scripts/fedora-messaging-venv.sh
	@scripts/tft-cli-venv.sh
	@scripts/ogr-venv.sh
	@scripts/koji-venv.sh
	# The end-to-end tests start the function binaries as processes.
	$(CARGO) build --workspace --bins
	@rm -rf $${CARGO_TARGET_DIR:-target}/test-logs
	$(CARGO) test --workspace --no-fail-fast
	# Every log the tests' processes wrote, checked for the secrets they were given.
	$(CARGO) run -q -p fedora-ci-tests --bin secret-scan

# The functions built optimised (profile bench-build: release without LTO, see
# Cargo.toml) with their own features, as the Containerfile builds them (a
# --workspace build would compile the tests' `dev` feature into them); then the
# bench tool; then the figures: a Markdown table and target/bench/report.json.
bench: bench-binaries
	$${CARGO_TARGET_DIR:-target}/bench-build/bench

bench-binaries: deps
	$(CARGO) build --profile bench-build $(addprefix -p ,$(FUNCTIONS))
	$(CARGO) build --profile bench-build -p fedora-ci-tests --no-default-features --bin bench

# The cost curves at every size (issue #25): reconciliation over 1k, 10k and 100k
# pending builds, the status page and /api/runs with 20k, 200k and 2M pipelines.
# make bench has the small sizes; this adds the large ones (about 4 min here).
bench-long: bench-binaries
	$${CARGO_TARGET_DIR:-target}/bench-build/bench --only curves --long

# The long part of the reliability suite (not in CI): 1,000,000 inputs per fuzz
# target (the parsers, and the functions themselves against Postgres), optimised, and the upstream hangs again with the production upstream
# timeout of 30 s (make test runs them with 2 s).
soak:
	FEDORA_CI_FUZZ_RUNS=$${FEDORA_CI_FUZZ_RUNS:-1000000} $(CARGO) test --profile bench-build -p fedora-ci-tests --test fuzz --test fuzz_functions -- --test-threads=2
	$(CARGO) build --workspace --bins
	FEDORA_CI_FAULTS_TIMEOUT_SECONDS=30 $(CARGO) test -p fedora-ci-tests --test reliability_faults -- hanging

# Static checks of the deployment (tests/tests/deploy.rs); no cluster, no engine.
deploy-check: ansible-venv
	$(CARGO) test -p fedora-ci-tests --test deploy

# ansible-core, yamllint and ansible-lint (pinned) for the playbook run and
# Fedora infra's linters; fails when PyPI cannot be reached (nothing skips).
ansible-venv:
	@scripts/ansible-venv.sh

# The ansible role ships a copy of knative/ (the infra repo cannot reach ours);
# deploy-check fails until the copy matches.
ansible-sync:
	rm -rf ansible/roles/openshift-apps/fedora-ci/files/knative
	cp -r knative ansible/roles/openshift-apps/fedora-ci/files/knative

IMAGE_REPOSITORY ?= quay.io/packit
IMAGE_TAG ?= dev
image:
	@if command -v podman >/dev/null; then build="podman build"; \
	elif command -v buildah >/dev/null; then build="buildah bud"; \
	else echo "make image needs podman or buildah (apt-get install podman); none found, nothing built" >&2; exit 1; fi; \
	for f in $(FUNCTIONS); do \
	  echo "== $$f"; \
	  $$build --build-arg FUNCTION=$$f -t $(IMAGE_REPOSITORY)/fedora-ci-$$f:$(IMAGE_TAG) -f Containerfile . || exit 1; \
	done

# One PR story through `make run`'s stack, checked at the end (tests/src/demo.rs).
demo: deps
	$(CARGO) build --workspace --bins
	$(CARGO) run -q -p fedora-ci-tests --bin local-stack -- --demo

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

db-stop:
	@d=target/devdb/pg/data; if [ -f $$d/PG_VERSION ]; then \
	  if [ "$$(id -u)" = 0 ]; then runuser -u postgres -- pg_ctl -D $$d -m fast stop; else pg_ctl -D $$d -m fast stop; fi; \
	else echo "no local cluster"; fi

clean: db-stop
	$(CARGO) clean
