"""BatchStudio settings: everything comes from the environment (see .env.example).

Defaults are the embedded single-machine set-up: SQLite and a redis-server on a unix
socket, both under VAR_DIR, and a local folder as the storage root. DEBUG is off unless
asked for.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from apps.core.env import env_bool, env_float, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var")
# RUN_DIR holds the embedded redis socket and pid files; keep it short (unix socket paths
# are limited to 107 bytes).
RUN_DIR = env_path("RUN_DIR", VAR_DIR / "run")
STORAGE_ROOT = env_path("STORAGE_ROOT", VAR_DIR / "storage")
# Where users see the storage root on their own machines (the NFS mount point).
NFS_DISPLAY_ROOT = env_str("NFS_DISPLAY_ROOT") or str(STORAGE_ROOT)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    # No key given: keep one per installation under VAR_DIR so sessions survive restarts,
    # instead of a well-known default.
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.catalog",
    "apps.jobs",
    "apps.exports",
    "apps.api",
    "apps.openai_api",
    "apps.webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "apps.urls"
WSGI_APPLICATION = "apps.wsgi.application"

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

_SQLITE_OPTIONS = {
    # The web server and the workers write to the same file: WAL lets readers go on while
    # one writer commits, IMMEDIATE takes the write lock up front (no upgrade deadlocks),
    # and the timeout waits for the lock instead of failing with "database is locked".
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'batchstudio.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = dict(_SQLITE_OPTIONS)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests run the worker in another process: the test database must be a file it can open.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-batchstudio.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names need `collectstatic`; the run command does it. DEBUG serves plain files.
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or env_bool("PLAIN_STATIC", False)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploads bigger than this go to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Limits on one model or dataset upload (archives are counted as they unpack).
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024**3, minimum=1024)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 10_000, minimum=1)
# OpenAI-compatible Batch API: the largest input file (OpenAI's own limit by default).
OPENAI_FILE_MAX_BYTES = env_int("OPENAI_FILE_MAX_BYTES", 200 * 1024**2, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FILES = UPLOAD_MAX_FILES

# --- Redis / Celery -------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL") or f"redis+socket://{RUN_DIR / 'redis.sock'}"
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A shard is acknowledged only once it is done; if its worker dies it is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "inference"
CELERY_TASK_ROUTES = {
    "apps.exports.tasks.*": {"queue": "exports"},
    "apps.openai_api.tasks.*": {"queue": "exports"},
    "apps.catalog.tasks.*": {"queue": "exports"},
    "apps.webhooks.tasks.*": {"queue": "exports"},
}
# Longer than any shard may take (see SHARD_MAX_SECONDS), or Redis hands a running shard
# to a second worker.
BROKER_VISIBILITY_TIMEOUT = env_int("BROKER_VISIBILITY_TIMEOUT", 6 * 3600, minimum=60)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 2, minimum=1)

# --- Jobs -----------------------------------------------------------------------------
# A running job whose worker heartbeat is older than this, with nobody to take it over,
# is marked FAILED instead of staying RUNNING forever.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 600, minimum=10)
# A RUNNING shard whose heartbeat (every 2 s) is older than this may be taken over.
SHARD_STALE_SECONDS = env_int("SHARD_STALE_SECONDS", 15, minimum=5)
PROGRESS_INTERVAL_SECONDS = env_float("PROGRESS_INTERVAL_SECONDS", 1.0, minimum=0.1)
MAX_SHARDS = env_int("MAX_SHARDS", 64, minimum=1)
# Fair share (worker.scheduler): the worker processes of all worker machines together, and
# how many shards may be queued or running at once (one more than the processes, so none
# idles between a shard's end and the next refill).
WORKER_SLOTS = env_int("WORKER_SLOTS", CELERY_WORKER_CONCURRENCY, minimum=1)
SHARDS_IN_FLIGHT = env_int("SHARDS_IN_FLIGHT", WORKER_SLOTS + 1, minimum=1)
# Webhooks (apps.webhooks): whether endpoints may be private or loopback addresses (an
# operator's choice: off, a user could make the server call its own admin port), the
# first retry's wait (each later one 4× longer, at most 6 h) and how long to keep trying.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 5.0, minimum=0.1)
WEBHOOK_RETRY_SECONDS = env_int("WEBHOOK_RETRY_SECONDS", 24 * 3600, minimum=60)

# --- Results exports (S3 uploads) -----------------------------------------------------
# Files bigger than the threshold go up in parts of EXPORT_MULTIPART_CHUNKSIZE (S3's
# smallest part is 5 MiB; the part size grows by itself to stay under 10,000 parts).
_MIB = 1024 * 1024
EXPORT_MULTIPART_THRESHOLD = env_int("EXPORT_MULTIPART_THRESHOLD", 64 * _MIB, minimum=5 * _MIB)
EXPORT_MULTIPART_CHUNKSIZE = env_int("EXPORT_MULTIPART_CHUNKSIZE", 64 * _MIB, minimum=5 * _MIB)
# How long an upload's (encrypted) secret key waits in Redis for a worker before it is dropped.
EXPORT_SECRET_TTL_SECONDS = env_int("EXPORT_SECRET_TTL_SECONDS", 6 * 3600, minimum=60)
# An upload whose worker has not reported for this long is marked FAILED, freeing the job
# for the next upload.
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 300, minimum=30)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
