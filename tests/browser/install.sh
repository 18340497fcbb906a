#!/usr/bin/env bash
# Installs what the real-browser test needs: Debian's chromium (through apt, when
# /usr/bin/chromium is missing) and the pinned Playwright for Python in the venv.
# Playwright's own browser download is never used (`playwright install` is not run):
# the test launches the system chromium through `executable_path`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # fonts-dejavu-core: readable text in the screenshots
    $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

# The pin lives in requirements-browser.txt; everything else it lists is installed by the
# main install already, so only Playwright (and its own dependencies) is added here.
pin="$(grep -E '^playwright==' "$root/requirements-browser.txt")"
wanted="${pin#playwright==}"
have="$("$python" -c 'from importlib.metadata import version; print(version("playwright"))' 2>/dev/null || true)"
if [ "$have" != "$wanted" ]; then
    "$python" -m pip install --quiet "$pin"
fi
echo "browser test: $(/usr/bin/chromium --version 2>/dev/null | head -1), playwright $wanted"
