#!/usr/bin/env bash
# Installs what the real-browser test needs: Debian's chromium (through apt, when
# /usr/bin/chromium is missing) and the pinned Playwright for Python in the venv.
# Playwright's own browser download is never used (`playwright install` is not run):
# the test launches the system chromium through `executable_path`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VENV:-$root/.venv}"

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if ! "$venv/bin/python" -c "import playwright" 2>/dev/null; then
    # requirements-test.txt is already installed by the main install; only the browser
    # driver is new, so install it alone with its pin from requirements-browser.txt.
    pin="$(grep -E '^playwright==' "$root/requirements-browser.txt")"
    "$venv/bin/python" -m pip install --quiet "$pin"
fi
echo "browser test dependencies: $(/usr/bin/chromium --version 2>/dev/null | head -1);" \
     "playwright $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("playwright"))')"
