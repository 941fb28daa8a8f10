"""Cairn settings: one module, every value read from the environment (and `.env`).

With nothing set, Cairn runs on one machine with no external service: SQLite for
data and a second SQLite file as the Celery broker. DATABASE_URL and
CELERY_BROKER_URL switch to PostgreSQL and Redis.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CAIRN_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _bool(name: str, default: bool) -> bool:
    # Fail loudly on a typo such as DEBUG=ture (healthchecks' envbool):
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _key_file(name: str, make) -> str:
    """A secret kept in var/ so a one-machine install gets a real, stable key.

    Several machines must share one value: set the variable on each instead.
    """
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


DEBUG = _bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _key_file(
    "secret-key", lambda: __import__("secrets").token_urlsafe(50)
)
# Fernet key for secrets at rest.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="") or _key_file(
    "field-encryption-key", _fernet_key
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "heroicons",
    "ninja",  # /api/v1/docs serves Swagger UI from our static files, not a CDN
    "portal",
    "catalog",
    "workflows",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.WorkspaceMiddleware",
    "portal.middleware.HtmxSessionEndedMiddleware",
    "portal.middleware.MethodNotAllowedMiddleware",
    "portal.middleware.ContentEncodingMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "portal.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cairn.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + busy timeout + IMMEDIATE: the web server and the worker write concurrently.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so a real worker process can share the test database:
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-cairn.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _bool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    # PostgreSQL plans a statement psycopg has sent 5 times on a connection once,
    # not each time: the engine's statements repeat on every run (its bench:
    # 40% less PostgreSQL CPU per run, 15% more runs/s). Off for a pooler that
    # can't keep prepared statements (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
# Keep connections between requests. On SQLite too: a fresh connection per
# request costs more than the request (a run start through the API took about
# 40 ms with a new connection each time, 14 ms without; closing the last
# connection also checkpoints the WAL).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Email: console by default; EMAIL_URL=smtp://user:pass@host:587 for real mail.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cairn@localhost")
# Workers send mail after a run's transaction: a mail server that stops
# answering must not hold a worker for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Seconds a web request may go without a byte from its client (portal/wsgi.py):
CLIENT_READ_TIMEOUT = env.float("CLIENT_READ_TIMEOUT", default=5.0)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# HTTPS=true (the default outside DEBUG) redirects to https and marks cookies
# secure; `make run` sets HTTPS=false for its plain http://127.0.0.1 server.
HTTPS = _bool("HTTPS", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
if _bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0

# Celery: state lives in the database, so no result backend.
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
# Tests give their worker a queue of its own so a running dev worker can't take its tasks:
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {
        "task": "portal.tasks.worker_heartbeat",
        "schedule": env.float("WORKER_HEARTBEAT_SECONDS", default=30.0),
    },
    "run-sweep": {
        "task": "workflows.tasks.sweep_task",
        "schedule": env.float("RUN_SWEEP_SECONDS", default=15.0),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Workflows (used by the engine; read here so every setting lives in one place):
# The address people and callers reach the portal at; used in callback URLs and emails.
BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
MAX_CONCURRENT_RUNS = env.int("MAX_CONCURRENT_RUNS", default=5)
RUN_RETENTION_DAYS = env.int("RUN_RETENTION_DAYS", default=30)
# A worker runs blocks that need no human for up to this long, then re-enqueues the run:
RUN_TIME_SLICE_SECONDS = env.float("RUN_TIME_SLICE_SECONDS", default=10.0)
# A run whose heartbeat is older than this is taken over by the sweep:
RUN_STALE_SECONDS = env.float("RUN_STALE_SECONDS", default=60.0)
RUN_HEARTBEAT_SECONDS = env.float("RUN_HEARTBEAT_SECONDS", default=10.0)
# A block with an outside effect whose worker died mid-block runs again, up to
# this many attempts in all; then it fails (a block that kills every worker
# that runs it must not loop). 5, as Sentry's task retries.
RUN_BLOCK_MAX_ATTEMPTS = env.int("RUN_BLOCK_MAX_ATTEMPTS", default=5)
WORKER_EGRESS_IP = env.str("WORKER_EGRESS_IP", default="127.0.0.1")
HTTP_BLOCK_ALLOWED_HOSTS = env.list("HTTP_BLOCK_ALLOWED_HOSTS", default=[])
# HTTP blocks' calls to these hosts (Cortex's API) go to this Cairn's API at
# BASE_URL instead, so descriptors written for Cortex read Cairn's catalog:
CORTEX_API_HOSTS = env.list("CORTEX_API_HOSTS", default=["api.getcortexapp.com"])
# Links in response templates to an entity in Cortex's app (…/admin?tag=x) lead
# to the entity's page here:
CORTEX_APP_HOSTS = env.list("CORTEX_APP_HOSTS", default=["app.getcortexapp.com"])
# Outbound HTTP from blocks: whole-exchange timeout and response size cap.
HTTP_BLOCK_TIMEOUT = env.float("HTTP_BLOCK_TIMEOUT", default=30.0)
HTTP_BLOCK_MAX_BYTES = env.int("HTTP_BLOCK_MAX_BYTES", default=5 * 1024 * 1024)
# Addresses of reverse proxies whose X-Forwarded-For is trusted for the IP allowlist:
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# Requests per minute each API key may make (Cortex's limit); 0 turns the limit off.
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=1000)

# The cache holds the API's rate-limit counters, so every web process must share
# it: CACHE_URL if set (redis://…, dbcache://table), else the Redis of a redis://
# broker, else a table in the database (made by `migrate`).
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "cairn_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
CACHES["default"].setdefault("KEY_PREFIX", "cairn")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "no_4xx_traceback": {"()": "portal.logging.NoClientErrorTraceback"},
        "logged_path": {"()": "portal.logging.LoggedPath"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["no_4xx_traceback", "logged_path"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request of every HTTP block at INFO:
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
