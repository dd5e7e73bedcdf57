# syntax=docker/dockerfile:1
# One image for every SalesAI process: web (the default command), Celery worker, GPU worker and beat
# (docker-compose.yml picks the command).
#
# torch is pinned to 2.13.0 in requirements.txt. TORCH_INDEX_URL chooses which build of it pip finds:
#   CPU (default):  docker build .
#   NVIDIA GPU:     docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
#                   (use the cuXYZ index matching your host's driver; the GPU worker then runs with
#                   ML_DEVICE=auto or cuda and a GPU reservation, see docker-compose.yml)
# `==2.13.0` admits local builds such as 2.13.0+cpu / 2.13.0+cu128, and pip prefers them.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the virtual environment -------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.txt requirements-nodeps.txt /tmp/
RUN /opt/venv/bin/pip install --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/requirements.txt \
 && /opt/venv/bin/pip install --no-deps -r /tmp/requirements-nodeps.txt
# The prebuilt llama.cpp libraries (email drafts) need glibc 2.38; bookworm has 2.36: patched once here, with a
# compiler that stays in this stage (a no-op on a newer base image).
COPY scripts/llama_cpp_glibc_compat.py /tmp/
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
 && /opt/venv/bin/python /tmp/llama_cpp_glibc_compat.py

# --- runtime --------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=salesai.settings \
    SALESAI_VAR_DIR=/data \
    STATIC_ROOT=/app/staticfiles \
    OMP_NUM_THREADS=1 \
    HF_HUB_OFFLINE=1 \
    XDG_CACHE_HOME=/data/.cache \
    HF_HOME=/data/.cache/huggingface \
    WEB_CONCURRENCY=2

RUN groupadd --system salesai \
 && useradd --system --gid salesai --home-dir /app --no-create-home --shell /usr/sbin/nologin salesai \
 && mkdir -p /data \
 && chown salesai:salesai /data

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code stays root-owned (read-only for the app user); only /data is writable.
COPY . /app
# collectstatic needs no secret: a local-mode import of the settings at build time only.
RUN SALESAI_ENV=local python manage.py collectstatic --noinput

USER salesai
# SQLite file (when no DATABASE_URL), embedded broker folder, model store, CSV import folder.
VOLUME ["/data"]
EXPOSE 8000

# Keep 127.0.0.1 in DJANGO_ALLOWED_HOSTS: the probe comes from inside the container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# gunicorn reads WEB_CONCURRENCY for its number of workers.
CMD ["gunicorn", "salesai.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
