#!/usr/bin/env bash
# Create .venv with Python 3.11 and install the pinned requirements.txt (+ requirements-nodeps.txt) into it.
# Re-running is cheap: pip runs again only when a requirements file changed since the last successful install
# (its sha256 is kept in .venv/.requirements.sha256), or when the venv is missing or broken.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.requirements.sha256"

if command -v sha256sum >/dev/null 2>&1; then
    want_hash="$(cat requirements.txt requirements-nodeps.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
else
    want_hash="$(cat requirements.txt requirements-nodeps.txt requirements-dev.txt | shasum -a 256 | cut -d' ' -f1)"
fi

if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "venv: $PYTHON not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'" >&2
        exit 1
    fi
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        echo "venv: $PYTHON is $("$PYTHON" --version 2>&1), SalesAI needs Python 3.11" >&2
        exit 1
    fi
    echo "venv: creating $VENV with $("$PYTHON" --version 2>&1)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]]; then
    exit 0  # requirements.txt unchanged since the last install
fi

echo "venv: installing requirements.txt into $VENV"
# torch is pinned to 2.13.0; a pip configured with a local CPU wheel (find-links) or a CPU/CUDA index
# (PIP_EXTRA_INDEX_URL) picks the matching build, as `==2.13.0` admits any local label such as +cpu.
"$VENV/bin/python" -m pip install --quiet --progress-bar off -r requirements.txt
# Packages whose declared dependencies we must not install (see the file's comments).
"$VENV/bin/python" -m pip install --quiet --progress-bar off --no-deps -r requirements-nodeps.txt
# llama.cpp's prebuilt libraries need glibc 2.38; on older glibc (Debian 12) they are patched once, else the
# local email backend falls back to transformers (the script says why).
"$VENV/bin/python" scripts/llama_cpp_glibc_compat.py || true
# Developer tools (ruff, import-linter) for `make lint`.
"$VENV/bin/python" -m pip install --quiet --progress-bar off -r requirements-dev.txt
echo "$want_hash" > "$STAMP"
