#!/usr/bin/env bash
# `make demo`: one machine, no servers needed.
# Prepares the database and a demo organization with a trained, scored model, then runs the web app with a
# Celery worker and beat beside it. Ctrl-C (or SIGTERM) stops all three.
# Re-runnable: the venv is reused, migrations and the seed are idempotent, training adds a new model version.
# With DATABASE_URL / CELERY_BROKER_URL set, the same steps run against PostgreSQL and Redis/RabbitMQ.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
BIN="$VENV/bin"
HOST="${DEMO_HOST:-127.0.0.1}"
PORT="${DEMO_PORT:-8000}"
VAR_DIR="${SALESAI_VAR_DIR:-$PWD/var}"
LOG_DIR="$VAR_DIR/log"

# One torch thread per process: the worker, web and the training step would otherwise fight over the cores.
# A run on this machine: the public development keys are allowed (a deployment sets SALESAI_ENV=production).
export SALESAI_ENV="${SALESAI_ENV:-local}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"

step() { printf '\n==> %s\n' "$*"; }

step "Python environment ($VENV)"
scripts/venv.sh
mkdir -p "$VAR_DIR" "$LOG_DIR"

step "Database: ${DATABASE_URL:-sqlite (embedded, $VAR_DIR/salesai.sqlite3)}"
"$PY" manage.py migrate --noinput

# Seed, train and score (lead and churn): the steps live in salesai/demo/pipeline.py, which CI runs too.
"$PY" manage.py demo_pipeline

# --- processes ---------------------------------------------------------------------------------------------
pids=()
stop_all() {
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Celery finishes the task in hand on TERM (warm shutdown); give it a while, then insist.
    for _ in $(seq 1 30); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "demo: stopped web, worker and beat"
}
trap stop_all EXIT
# Ctrl-C / SIGTERM are the normal way to stop the demo, so they end it with status 0.
trap 'exit 0' INT TERM

step "Starting Celery worker and beat (broker: ${CELERY_BROKER_URL:-filesystem (embedded, $VAR_DIR/broker)})"
"$BIN/celery" -A salesai worker -n "demo@%h" -Q default,sync,gpu --concurrency 1 --prefetch-multiplier 1 -l info \
    >>"$LOG_DIR/demo-worker.log" 2>&1 &
pids+=($!)
"$BIN/celery" -A salesai beat -l info --scheduler django_celery_beat.schedulers:DatabaseScheduler \
    >>"$LOG_DIR/demo-beat.log" 2>&1 &
pids+=($!)

step "Starting web server on http://$HOST:$PORT"
"$BIN/gunicorn" salesai.wsgi --bind "$HOST:$PORT" --workers "${WEB_CONCURRENCY:-2}" --access-logfile - &
pids+=($!)

# Print the login once the server answers (any HTTP status means it is up).
for _ in $(seq 1 60); do
    if "$PY" - "$HOST" "$PORT" <<'PYEOF' 2>/dev/null; then break; fi
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/healthz", timeout=2)
except urllib.error.HTTPError:
    pass
PYEOF
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "demo: a process exited early, see $LOG_DIR" >&2; exit 1; }; done
    sleep 1
done

password="$(DJANGO_SETTINGS_MODULE=salesai.settings "$PY" -c 'import django; django.setup(); from django.conf import settings; print(settings.DEMO_PASSWORD)' \
    2>/dev/null || echo "${DEMO_PASSWORD:-demo}")"
cat <<BANNER

  SalesAI demo is running.
    App:       http://$HOST:$PORT/app/
    Admin:     http://$HOST:$PORT/admin/
    API:       http://$HOST:$PORT/api/v1/      (docs: http://$HOST:$PORT/api/docs/)
    Login:     user "demo", password "$password"
    Logs:      worker $LOG_DIR/demo-worker.log, beat $LOG_DIR/demo-beat.log
  Press Ctrl-C to stop the web server, the worker and beat.

BANNER

# Return as soon as any of the three exits (Ctrl-C lands in the INT trap); the EXIT trap stops the others.
set +e
wait -n "${pids[@]}"
status=$?
echo "demo: a process exited (status $status); stopping the rest" >&2
exit "$status"
