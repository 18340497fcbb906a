#!/usr/bin/env bash
# Installs what the PostgreSQL gradebook tests need: Debian's postgresql package (through
# apt, when no /usr/lib/postgresql/*/bin/initdb is there). The tests start a throwaway
# server of their own (tests/services/postgres.py); the cluster the package sets up is
# never used. The Python driver (psycopg2-binary) is pinned in requirements.txt.
set -euo pipefail

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)"
echo "gradebook tests: $("$initdb" --version)"
