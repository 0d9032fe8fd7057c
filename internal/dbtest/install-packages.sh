#!/usr/bin/env bash
# Installs the database servers dualkey's tests start as throwaway instances:
# Debian's postgresql and mariadb-server. It installs only what is missing,
# never starts or enables a service (the tests start their own servers in
# temporary directories), and when it cannot install (not root, no apt-get)
# it prints the exact command to run and exits 1.
#
# Usage: internal/dbtest/install-packages.sh [--check]
#   --check  install nothing: exit 0 when everything is there, else print
#            the command and exit 1.
set -euo pipefail

# What each package provides that the tests look for.
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
have_mariadb() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; }

missing=()
have_postgres || missing+=(postgresql)
have_mariadb || missing+=(mariadb-server)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

hint="sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
cannot() {
	echo "dbtest: the database tests need Debian's ${missing[*]} ($1)." >&2
	echo "dbtest: install with: $hint" >&2
	exit 1
}

if [ "${1:-}" = "--check" ]; then
	cannot "missing"
fi
if ! command -v apt-get >/dev/null 2>&1; then
	cannot "no apt-get on this machine; install the equivalent packages of your system, providing initdb/postgres and mariadbd/mariadb-install-db"
fi
if [ "$(id -u)" -ne 0 ]; then
	cannot "installing needs root"
fi

echo "dbtest: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive

# Keep apt from starting the services: machines without systemd (containers,
# CI) fail the postinst when it tries, and the tests never use them. A
# policy-rc.d that exits 101 ("action forbidden") is Debian's documented way;
# an existing one is left as it is.
policy=/usr/sbin/policy-rc.d
added_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	added_policy=1
fi
cleanup() { if [ -n "$added_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt_install() {
	apt-get install -y -qq --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}
# A stale package index makes install fail on a fresh machine; refresh once
# and retry only when the first attempt fails.
if ! apt_install "${missing[@]}" >/dev/null; then
	apt-get update -qq
	apt_install "${missing[@]}" >/dev/null
fi

have_postgres || cannot "postgresql installed but no /usr/lib/postgresql/*/bin/initdb"
have_mariadb || cannot "mariadb-server installed but no mariadbd"
echo "dbtest: installed ${missing[*]}" >&2
