#!/usr/bin/env bash
# Checks (and, as root with apt-get, installs) what `make run` and `make test` need
# beyond the Rust toolchain. Prints exactly what is missing otherwise.
set -euo pipefail

missing=()
need_pkg() { missing+=("$1"); }

command -v cc >/dev/null || need_pkg gcc
command -v pkg-config >/dev/null || need_pkg pkg-config

# PostgreSQL: DATABASE_URL, a server on 127.0.0.1:5432, a container engine, or the
# server binaries for a throwaway cluster (see shared/src/devdb.rs).
have_pg=no
[ -n "${DATABASE_URL:-}" ] && have_pg=yes
command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 && have_pg=yes
{ [ -S /var/run/docker.sock ] || [ -n "${DOCKER_HOST:-}" ]; } && have_pg=yes
command -v initdb >/dev/null && have_pg=yes
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && have_pg=yes
[ "$have_pg" = yes ] || need_pkg postgresql

# RabbitMQ for the bridge tests: AMQP_URL, or a broker on 127.0.0.1:5672 (see
# shared/src/devamqp.rs), or at least the server installed to start one.
have_amqp=no
[ -n "${AMQP_URL:-}" ] && have_amqp=yes
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && have_amqp=yes
command -v rabbitmq-server >/dev/null && have_amqp=yes
[ -x /usr/sbin/rabbitmq-server ] && have_amqp=yes
[ "$have_amqp" = yes ] || need_pkg rabbitmq-server

# The bridge tests publish with fedora-messaging from a virtualenv
# (scripts/fedora-messaging-venv.sh), which needs python3 with venv and pip.
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkg python3-venv

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}   (or set DATABASE_URL to a PostgreSQL you have)" >&2
  exit 1
fi
