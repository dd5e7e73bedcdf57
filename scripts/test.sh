#!/usr/bin/env bash
# Run the whole test suite with pytest.
#   SQLite + embedded filesystem broker when DATABASE_URL / CELERY_BROKER_URL are unset,
#   PostgreSQL + Redis/RabbitMQ when they are set (the CI script sets both).
# Extra pytest arguments pass through: scripts/test.sh -k sync -x
# Exits non-zero on any failure, and also when pytest collected no test at all (exit code 5).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

# A run on this machine: the public development keys are allowed (a deployment sets SALESAI_ENV=production).
export SALESAI_ENV="${SALESAI_ENV:-local}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export PYTHONDONTWRITEBYTECODE=1
# A scratch var dir of its own, so a running `make demo` (worker, broker folder, models) never sees test data.
export SALESAI_VAR_DIR="${TEST_VAR_DIR:-$PWD/var/test}"
rm -rf "$SALESAI_VAR_DIR/broker"
mkdir -p "$SALESAI_VAR_DIR"

echo "test: database=${DATABASE_URL:-sqlite (embedded)} broker=${CELERY_BROKER_URL:-filesystem (embedded)}"
echo "test: var dir=$SALESAI_VAR_DIR"

set +e
"$VENV/bin/python" -m pytest --create-db "$@"
status=$?
set -e

case "$status" in
    0) ;;
    5) echo "test: pytest collected no tests -- treating that as a failure" >&2 ;;
    *) echo "test: pytest failed with exit code $status" >&2 ;;
esac
exit "$status"
