#!/usr/bin/env bash
# Installs what the grading sandbox needs (autograder/engine/sandbox.py): Debian's
# bubblewrap package, through apt, when bwrap is missing. Without it (or without root)
# `python -m autograder grade` refuses to grade; see the README's instructors' section.
set -euo pipefail

if ! command -v bwrap >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
fi
echo "grading sandbox: $(bwrap --version)"
