#!/usr/bin/env bash
# Checks (and, as root with apt-get, installs) what `make run` and `make test` need
# beyond the Rust toolchain. Prints exactly what is missing otherwise.
set -euo pipefail

missing=()
optional=()
need_pkg() { missing+=("$1"); }
# What a single test needs (it fails, saying so, without it); installed when we can.
want_pkg() { optional+=("$1"); }

# have <debian package> <fallback check...>: dpkg's word where there is a dpkg,
# else the fallback looks for the files we need.
have() {
  local pkg=$1; shift
  if command -v dpkg-query >/dev/null; then
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed'
  else
    "$@"
  fi
}
any_file() { local f; for f in "$@"; do [ -e "$f" ] && return 0; done; return 1; }
on_path() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

command -v cc >/dev/null || need_pkg gcc
command -v pkg-config >/dev/null || need_pkg pkg-config
# libgssapi (Kerberos login to Koji) runs bindgen over MIT Kerberos' headers at build time.
have libclang-dev any_file /usr/lib/llvm-*/lib/libclang.so /usr/lib/*/libclang.so /usr/lib64/libclang.so \
  || need_pkg libclang-dev
have libkrb5-dev any_file /usr/include/gssapi/gssapi_ext.h || need_pkg libkrb5-dev
# The throwaway Kerberos realm (tests/src/realm.rs) of every test that logs in to
# FASJSON or Koji, and of `make run`: the tests fail without it.
have krb5-kdc on_path krb5kdc || need_pkg krb5-kdc
have krb5-admin-server on_path kadmin.local || need_pkg krb5-admin-server
have krb5-user on_path klist || need_pkg krb5-user
# The status page's browser test (tests/tests/status_page.rs) renders it in headless chromium.
have chromium on_path chromium || want_pkg chromium

# PostgreSQL: DATABASE_URL, a server on 127.0.0.1:5432, a container engine, or the
# server binaries for a throwaway cluster (see shared/src/dev/db.rs).
have_pg=no
[ -n "${DATABASE_URL:-}" ] && have_pg=yes
command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432 && have_pg=yes
{ [ -S /var/run/docker.sock ] || [ -n "${DOCKER_HOST:-}" ]; } && have_pg=yes
command -v initdb >/dev/null && have_pg=yes
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && have_pg=yes
[ "$have_pg" = yes ] || need_pkg postgresql

# RabbitMQ for the bridge tests: AMQP_URL, or a broker on 127.0.0.1:5672 (see
# shared/src/dev/amqp.rs), or at least the server installed to start one.
have_amqp=no
[ -n "${AMQP_URL:-}" ] && have_amqp=yes
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && have_amqp=yes
command -v rabbitmq-server >/dev/null && have_amqp=yes
[ -x /usr/sbin/rabbitmq-server ] && have_amqp=yes
[ "$have_amqp" = yes ] || need_pkg rabbitmq-server

# The bridge tests publish with fedora-messaging from a virtualenv
# (scripts/fedora-messaging-venv.sh), which needs python3 with venv and pip.
python3 -c 'import ensurepip, venv' 2>/dev/null || need_pkg python3-venv

if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]} ${optional[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" "${optional[@]}" >/dev/null
elif [ ${#missing[@]} -eq 0 ]; then
  echo "note: the status page test fails without: ${optional[*]}; sudo apt-get install ${optional[*]}" >&2
else
  echo "missing: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]} ${optional[*]}   (or set DATABASE_URL to a PostgreSQL you have)" >&2
  exit 1
fi
