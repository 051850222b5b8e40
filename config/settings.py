"""chipreg settings, read from the environment.

The registry runs on PostgreSQL only: DATABASE_URL names it (`make run` and
`make test` start an embedded one when there is none, scripts/with-database.sh and
scripts/services.sh). With no REDIS_URL, Celery tasks run in-process (eager);
with it, on a Redis broker and real workers. Every variable is listed in the README.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_bool(name, default=False):
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name, default):
    value = env(name)
    return default if value is None else int(value)


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# A fixed development key keeps `make run` working with nothing configured;
# production settings (deploy/) refuse to start without a real one.
SECRET_KEY = env("SECRET_KEY", "chipreg-insecure-development-key-change-me-0123456789abcdef")
# API tokens are stored as HMAC-SHA256 under this key, so a leaked database
# alone does not yield usable tokens. Rotating it invalidates every token.
TOKEN_HASH_KEY = env("TOKEN_HASH_KEY", SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

VAR_DIR = Path(env("CHIPREG_VAR_DIR", str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "outbox",
    "transparency",
    "registry",
    "inventory",
    "runs",
    "attestations",
    "compliance",
    "casework",  # tips and cases (issue 19): imported only by console and config
    "console",
    "demo",  # only for manage.py load_demo; no app imports it
]

MIDDLEWARE = [
    # First: every later middleware's log lines carry the request id, and every answer is counted (ops).
    "core.logging.RequestIdMiddleware",
    "core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "core.middleware.RefuseNulMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.AuthenticateBeforeBodyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# PostgreSQL only. With no DATABASE_URL nothing is guessed: commands that need no database
# (check --deploy, collectstatic) still run, and the first query fails with Django's
# "supply the NAME" error. `make run` and scripts/with-database.sh start an embedded one.
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # A persistent connection that died while idle (a database restart) is
        # replaced before the next request uses it, instead of failing that request.
        conn_health_checks=env_bool("DATABASE_CONN_HEALTH_CHECKS", True),
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(f"DATABASE_URL must name a PostgreSQL database, not {DATABASES['default']['ENGINE']}")
if env("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(env("DATABASE_REPLICA_URL"), conn_max_age=60, conn_health_checks=True)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["config.routers.ReplicaRouter"]
if env("CHIPREG_TEST_DB_NAME"):
    # Lets several test runs share one PostgreSQL server (scripts/run-tests.sh sets it per run).
    DATABASES["default"]["TEST"] = {"NAME": env("CHIPREG_TEST_DB_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "registry.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
# Every password check is throttled (core/login_throttle.py): failed sign-ins per account name and
# per client address in a sliding window; past either, sign-in is refused, the right password included.
AUTHENTICATION_BACKENDS = ["core.login_throttle.ThrottledModelBackend"]
CHIPREG_LOGIN_FAILURES_PER_USER = env_int("CHIPREG_LOGIN_FAILURES_PER_USER", 10)
CHIPREG_LOGIN_FAILURES_PER_ADDRESS = env_int("CHIPREG_LOGIN_FAILURES_PER_ADDRESS", 50)
CHIPREG_LOGIN_FAILURE_WINDOW_S = env_int("CHIPREG_LOGIN_FAILURE_WINDOW_S", 900)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Request bodies: ordinary endpoints keep Django's small limit; the bulk
# endpoints (chip registration, attestations) read the stream themselves
# against their own, larger limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
CHIPREG_BULK_MAX_BYTES = env_int("CHIPREG_BULK_MAX_BYTES", 256 * 1024 * 1024)
CHIPREG_BULK_MAX_ROWS = env_int("CHIPREG_BULK_MAX_ROWS", 1_000_000)
# Bodies larger than this are read only from someone authenticated (core.middleware).
CHIPREG_ANONYMOUS_BODY_MAX = env_int("CHIPREG_ANONYMOUS_BODY_MAX", 64 * 1024)
CHIPREG_BODY_LIMITS = {
    "/api/v1/chips/": CHIPREG_BULK_MAX_BYTES,
    "/api/v1/declarations/": CHIPREG_BULK_MAX_BYTES,
    "/api/v1/inspections/": CHIPREG_BULK_MAX_BYTES,
    "/api/v1/transfers/": CHIPREG_BULK_MAX_BYTES,
}
# Attestations (ATTESTATION.md): the largest statement payload accepted (the
# spec requires at least 64 MiB, enough for a 1,000,000-chip statement), and
# the freshness window.
CHIPREG_ATTESTATION_MAX_PAYLOAD = env_int("CHIPREG_ATTESTATION_MAX_PAYLOAD", 96 * 1024 * 1024)
# Tips (casework): a tip's body, sealed, is at most this; an address sends at most so many tips and bytes
# per window (counted under a keyed hash of the address, never the address). The treaty body's public key
# (base64, `manage.py tips_keypair`) seals them; its private key file is configured only where the treaty
# body reads them (casework/sealing.py).
CHIPREG_TIP_MAX_BYTES = env_int("CHIPREG_TIP_MAX_BYTES", 60 * 1024)
CHIPREG_TIP_ATTACHMENTS_MAX = env_int("CHIPREG_TIP_ATTACHMENTS_MAX", 3)
CHIPREG_TIP_RATE_PER_ADDRESS = env("CHIPREG_TIP_RATE_PER_ADDRESS", "20/hour")
CHIPREG_TIP_BYTES_PER_ADDRESS = env_int("CHIPREG_TIP_BYTES_PER_ADDRESS", 1024 * 1024)
CHIPREG_TIP_BYTES_WINDOW_S = env_int("CHIPREG_TIP_BYTES_WINDOW_S", 3600)
CHIPREG_TIPS_PUBLIC_KEY = env("CHIPREG_TIPS_PUBLIC_KEY", "")
CHIPREG_TIPS_PRIVATE_KEY_FILE = env("CHIPREG_TIPS_PRIVATE_KEY_FILE", "")
# Development convenience (`make run`): with no public key configured, make a pair in VAR_DIR once.
# Production settings turn this off: there, no key configured means no tips (503 tips_unavailable).
CHIPREG_TIPS_KEY_AUTOCREATE = env_bool("CHIPREG_TIPS_KEY_AUTOCREATE", True)
# A tip's body is refused from its length alone, before authentication is looked at (which would record
# a token's use): no larger than an anonymous body may be anyway.
CHIPREG_BODY_LIMITS["/api/v1/tips/"] = min(CHIPREG_TIP_MAX_BYTES * 2, CHIPREG_ANONYMOUS_BODY_MAX)
CHIPREG_BODY_LIMITS["/api/v1/attestations/"] = 4 * ((CHIPREG_ATTESTATION_MAX_PAYLOAD + 2) // 3) + (1 << 20)
CHIPREG_FRESHNESS_MAX_FUTURE_S = env_int("CHIPREG_FRESHNESS_MAX_FUTURE_S", 300)
CHIPREG_FRESHNESS_MAX_AGE_S = env_int("CHIPREG_FRESHNESS_MAX_AGE_S", 7 * 24 * 3600)
# Findings: the fastest a chip can be moved (air freight), how close in time
# two sightings count as "at once", how far above its power limit a chip's
# reported energy may go, and the distance light covers per ms of round trip.
CHIPREG_MAX_TRANSPORT_KMH = float(env("CHIPREG_MAX_TRANSPORT_KMH", "1000"))
CHIPREG_SIMULTANEITY_S = float(env("CHIPREG_SIMULTANEITY_S", "60"))
CHIPREG_ENERGY_TOLERANCE = float(env("CHIPREG_ENERGY_TOLERANCE", "1.05"))
CHIPREG_RTT_KM_PER_MS = float(env("CHIPREG_RTT_KM_PER_MS", "150"))
# A node agent re-attests its chips every few seconds; moving a chip's last verification time (an
# indexed column: every index of the chip row is rewritten) on each statement would cost more than
# the statement. Its statements move it only once it is this much older; continuity is judged in days.
CHIPREG_VERIFICATION_RESOLUTION_S = float(env("CHIPREG_VERIFICATION_RESOLUTION_S", "60"))
# Hardware evidence (HARDWARE.md): the folder of pinned vendor roots (*.pem; default: the roots shipped
# in protocol/roots/, the NVIDIA Device Identity CA), and how long an issued challenge stays valid.
CHIPREG_HARDWARE_ROOTS = env("CHIPREG_HARDWARE_ROOTS", "")
CHIPREG_CHALLENGE_TTL_S = env_int("CHIPREG_CHALLENGE_TTL_S", 15 * 60)
# The <vendor> words of the device identities a maker's chips carry (HARDWARE.md check 6: the first word of the
# provisioning certificate's O), by registry code, where they differ from the code: "amd=advanced,amd;x=y". A
# maker not named carries its own code (nvidia: "nvidia-gh100:..."). An enrolment of another vendor's is refused.
CHIPREG_IDENTITY_VENDORS = {
    code.strip().lower(): [v.strip().lower() for v in vendors.split(",") if v.strip()]
    for code, _, vendors in (item.partition("=") for item in env("CHIPREG_IDENTITY_VENDORS", "").split(";"))
    if code.strip() and vendors.strip()
}
# The bulk endpoints parse the body themselves, so Django's own check is moved
# to the middleware above (which applies DATA_UPLOAD_MAX_MEMORY_SIZE elsewhere).

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.KeysetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["core.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.problems.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.PerTokenThrottle", "core.throttling.PerAddressThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "token": env("CHIPREG_RATE_PER_TOKEN", "6000/min"),
        "address": env("CHIPREG_RATE_PER_ADDRESS", "12000/min"),
    },
    "NUM_PROXIES": env_int("CHIPREG_NUM_PROXIES", 0),
    # `?format=csv` is our own switch for downloads, not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "chipreg API",
    "DESCRIPTION": (
        "The registry of AI accelerators: chips by serial number, custody, "
        "signed attestations and a transparency log. Errors are RFC 9457 "
        "problem details with a stable `code`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from the vendored sidecar: the docs work without network access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Errors are problem details, documented once for every operation (registry/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "registry.schema.document_problems"],
    "ENUM_NAME_OVERRIDES": {
        "ChipStatusEnum": "registry.choices.ChipStatus",
        "AlertStateEnum": "compliance.choices.AlertState",
        "TipStateEnum": "casework.choices.TipState",
        "CaseStateEnum": "casework.choices.CaseState",
        "CaseLinkKindEnum": "casework.choices.LinkKind",
        "TriageActionEnum": "casework.choices.TriageAction",
        "DeliveryStateEnum": "compliance.models.DeliveryState",
        "SeverityEnum": "compliance.choices.Severity",
        "OrgKindEnum": "registry.choices.OrgKind",
        "ClusterPurposeEnum": "inventory.choices.ClusterPurpose",
        "KeyPurposeEnum": "attestations.models.KeyPurpose",
        "TransferStatusEnum": "inventory.choices.TransferStatus",
        "FacilityStatusEnum": "inventory.choices.FacilityStatus",
        "FindingKindEnum": "inventory.choices.FindingKind",
        "AlertKindEnum": "compliance.choices.AlertKind",
        "RunKindEnum": "runs.choices.RunKind",
        "RunStateEnum": "runs.choices.RunState",
        "RunPrecisionEnum": "runs.choices.RunPrecision",
        "RulePrecisionEnum": "compliance.choices.Precision",
        "ChallengeStateEnum": "inventory.choices.ChallengeState",
        "ExportStatusEnum": "inventory.choices.ExportStatus",
        "DisposalKindEnum": "registry.choices.DisposalKind",
        "DisposalStateEnum": "registry.choices.DisposalState",
    },
}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
        if env("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Keeps apart the counters (rate limits, sign-in failures) of several test runs on one Redis
# (scripts/run-tests.sh sets it per run, as it does the test database's name).
CACHES["default"]["KEY_PREFIX"] = env("CHIPREG_CACHE_KEY_PREFIX", "")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Celery: eager in-process execution unless a broker is configured.
REDIS_URL = env("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", REDIS_URL is None)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail fast when the broker is down: the outbox keeps the work, a request must not hang.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    # A task held by a worker that died is redelivered after this long; keep
    # it above the longest task (a full evaluation, a delayed webhook retry).
    "visibility_timeout": env_int("CHIPREG_BROKER_VISIBILITY_TIMEOUT_S", 1800),
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Queues split by work so workers scale out separately.
CELERY_TASK_DEFAULT_QUEUE = "evaluate"
CELERY_TASK_ROUTES = {
    "transparency.tasks.*": {"queue": "ingest"},
    "outbox.tasks.*": {"queue": "ingest"},
    "attestations.tasks.*": {"queue": "ingest"},
    "inventory.tasks.*": {"queue": "evaluate"},
    "compliance.tasks.*": {"queue": "evaluate"},
    "compliance.delivery.tasks.*": {"queue": "notify"},
}

# Accelerator catalog: how an "H100-equivalent" is counted. `treaty_tpp`
# (the draft agreement's 15,840 TPP per H100e) or `epoch_8bit` (Epoch AI:
# dense 8-bit OP/s / 1,979 TOP/s). See registry/catalog.py.
CHIPREG_H100E_CONVENTION = env("CHIPREG_H100E_CONVENTION", "treaty_tpp")

# Transparency log (LOG.md): the Ed25519 signing key and the note origin.
CHIPREG_LOG_ORIGIN = env("CHIPREG_LOG_ORIGIN", "chipreg.local/log")
CHIPREG_LOG_KEY_PATH = Path(env("CHIPREG_LOG_KEY_PATH", str(VAR_DIR / "log-key.pem")))
# At most one checkpoint signature per this many seconds (appends are batched).
CHIPREG_CHECKPOINT_INTERVAL_S = float(env("CHIPREG_CHECKPOINT_INTERVAL_S", "1.0"))
# Development convenience: create the log key on first use. Production
# settings turn this off so that a lost key is an error, not a silent new log.
CHIPREG_LOG_KEY_AUTOCREATE = env_bool("CHIPREG_LOG_KEY_AUTOCREATE", True)

# Inventory: facilities of any operators closer than this are proposed as one
# campus; chips unverified for longer than the window are findings.
CHIPREG_CAMPUS_DISTANCE_KM = float(env("CHIPREG_CAMPUS_DISTANCE_KM", "5"))
# A facility whose coordinates lie within this of another country's reference places is "near a border":
# accepted with a country_unclear finding for both inspectorates (inventory/geo.py).
CHIPREG_COUNTRY_BORDER_KM = float(env("CHIPREG_COUNTRY_BORDER_KM", "25"))
CHIPREG_SILENCE_WINDOW_DAYS = env_int("CHIPREG_SILENCE_WINDOW_DAYS", 7)
# Chips of a covered cluster whose last verified hardware evidence is older than this are findings
# (compliance.hardware_continuity).
CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS = env_int("CHIPREG_HARDWARE_EVIDENCE_WINDOW_DAYS", 7)
# Disposal requests (registry.disposals): chips per request, and their evidence (photos, a certificate).
CHIPREG_DISPOSAL_MAX_CHIPS = env_int("CHIPREG_DISPOSAL_MAX_CHIPS", 100_000)
CHIPREG_DISPOSAL_ATTACHMENTS_MAX = env_int("CHIPREG_DISPOSAL_ATTACHMENTS_MAX", 5)
# (base64 in a JSON body: a file's 1 MiB is 1.4 MiB of the 2 MiB body limit)
CHIPREG_DISPOSAL_ATTACHMENT_MAX_BYTES = env_int("CHIPREG_DISPOSAL_ATTACHMENT_MAX_BYTES", 1024 * 1024)


def base64_bytes(files, each):
    """The most a JSON body's base64 of `files` files of `each` bytes takes."""
    return files * 4 * ((each + 2) // 3)


# The body a request at every one of its own limits takes (its most chips, as objects, and its most files,
# each the largest), and a MiB for the rest: a smaller body limit would refuse what the endpoint allows.
CHIPREG_BODY_LIMITS["/api/v1/disposals/"] = max(
    DATA_UPLOAD_MAX_MEMORY_SIZE,
    CHIPREG_DISPOSAL_MAX_CHIPS * 128
    + base64_bytes(CHIPREG_DISPOSAL_ATTACHMENTS_MAX, CHIPREG_DISPOSAL_ATTACHMENT_MAX_BYTES)
    + (1 << 20),
)
# A chip registered by anyone but its manufacturer, of a manufacturer that reports its production, that the
# manufacturer has not reported this many days after registration is an `unreported_chip` finding
# (inventory.services.watch.find_unreported, daily).
CHIPREG_MANUFACTURER_REPORT_GRACE_DAYS = env_int("CHIPREG_MANUFACTURER_REPORT_GRACE_DAYS", 30)
# A shipment still in transit this many days after it shipped: `never_received` findings (the daily beat task
# inventory.tasks.find_overdue_transfers), so a shipment never confirmed does not keep its chips unplaced unseen.
CHIPREG_TRANSIT_OVERDUE_DAYS = env_int("CHIPREG_TRANSIT_OVERDUE_DAYS", 30)
# A usage statement received more than this many hours after its period ended is judged in the fullest compute
# window around its period end as well (compliance.late_windows): holding a statement back then cannot take its
# work out of the window it belongs to.
CHIPREG_USAGE_FILING_GRACE_H = env_int("CHIPREG_USAGE_FILING_GRACE_H", 24)
# An approved export authorisation is valid this many days unless the approving inspectorate names an earlier
# end (`valid_until`); no shipment is made under it afterwards. The exporting states' licences run a year or more.
CHIPREG_EXPORT_VALIDITY_DAYS = env_int("CHIPREG_EXPORT_VALIDITY_DAYS", 365)

# Findings become alerts of this severity; None raises no alert.
CHIPREG_FINDING_SEVERITY = {
    "unaccounted": "high",
    "unexpected": "medium",
    "wrong_cluster": "low",
    "unknown_cluster": "medium",
    "usage_elsewhere": "medium",
    "late_filing": "low",
    "unknown_chip": "medium",
    "never_received": "high",
    "received_not_shipped": "medium",
    "received_elsewhere": "medium",
    # Exports (inventory.services.exports, compliance.exports): chips across a border without an approved
    # authorisation, or into a country a destination rule forbids.
    "export_unauthorised": "high",
    "export_forbidden": "critical",
    "silent_chip": "low",
    "hardware_unverified": "medium",
    "other_operator": "medium",
    "impossible_travel": "high",
    "two_places": "high",
    "implausible_usage": "medium",
    "rtt_impossible": "high",
    "revoked_key": "high",
    # A usage statement's `run` that does not count (runs.services.attribution): its usage stays unattributed.
    "run_unknown": "medium",
    "run_not_own": "medium",
    "run_before_declaration": "medium",
    "run_withdrawn": "medium",
    # Work for a run the treaty said may not run: the statement is a breach to see, beside the work's count.
    "run_objected": "high",
    "run_prohibited": "high",
    "run_other_site": "medium",
    # Work attributed to its run all the same, outside the dates the run was declared and reviewed for.
    "run_outside_plan": "medium",
    "evidence_invalid": "high",
    "evidence_stale": "medium",
    "identity_mismatch": "high",
    "identity_duplicate": "high",
    "identity_enrolled": None,
    # Challenge inspections (inventory.services.challenges) and seals (inventory.services.sealing)
    "seen_unregistered_site": "high",
    "seal_missing": "high",
    "seal_broken": "high",
    "seal_changed": "high",
    # Issue #19: a chip reported lost or stolen (at once, on the watch list), a later sighting of one, and a
    # chip of a reporting manufacturer's make that the manufacturer never reported.
    "lost_or_stolen": "high",
    "lost_chip_sighted": "critical",
    "unreported_chip": "medium",
}

# Answers and clarification requests (compliance/disputes.py). The days a party has to answer a request for
# clarification: the draft agreement's Article XI gives 5 (arXiv 2511.10783; CWC Article IX gives 10). A requester
# may give more, up to the maximum, never less. A request left unanswered past its deadline raises an alert of this
# severity. Attachments: at most this many per answer, each at most this many bytes (the body limit applies too).
CHIPREG_CLARIFICATION_DAYS = env_int("CHIPREG_CLARIFICATION_DAYS", 5)
CHIPREG_CLARIFICATION_MAX_DAYS = env_int("CHIPREG_CLARIFICATION_MAX_DAYS", 90)
CHIPREG_CLARIFICATION_OVERDUE_SEVERITY = env("CHIPREG_CLARIFICATION_OVERDUE_SEVERITY", "high")
CHIPREG_ANSWER_ATTACHMENTS_MAX = env_int("CHIPREG_ANSWER_ATTACHMENTS_MAX", 3)
CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES = env_int("CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES", 512 * 1024)
# An answer is POSTed to findings/{id}/answers/ or alerts/{id}/answers/: those prefixes admit its most files,
# each the largest, and a MiB of text.
for _prefix in ("/api/v1/findings/", "/api/v1/alerts/"):
    CHIPREG_BODY_LIMITS[_prefix] = max(
        DATA_UPLOAD_MAX_MEMORY_SIZE,
        base64_bytes(CHIPREG_ANSWER_ATTACHMENTS_MAX, CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES) + (1 << 20),
    )

# Alert delivery (compliance/delivery): the Standard Webhooks v1a signing key,
# destinations allowed despite being private, and the retry schedule.
CHIPREG_WEBHOOK_KEY_PATH = Path(env("CHIPREG_WEBHOOK_KEY_PATH", str(VAR_DIR / "webhook-key.pem")))
CHIPREG_WEBHOOK_KEY_AUTOCREATE = env_bool("CHIPREG_WEBHOOK_KEY_AUTOCREATE", True)
CHIPREG_WEBHOOK_ALLOWED_HOSTS = env_list("CHIPREG_WEBHOOK_ALLOWED_HOSTS", "")
CHIPREG_WEBHOOK_RETRY_HOURS = float(env("CHIPREG_WEBHOOK_RETRY_HOURS", "24"))
CHIPREG_WEBHOOK_RETRY_BASE_S = float(env("CHIPREG_WEBHOOK_RETRY_BASE_S", "30"))
CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S = float(env("CHIPREG_WEBHOOK_RETRY_MAX_WAIT_S", "7200"))
CHIPREG_WEBHOOK_TIMEOUT_S = float(env("CHIPREG_WEBHOOK_TIMEOUT_S", "10"))
CHIPREG_WEBHOOK_SWEEP_GRACE_S = float(env("CHIPREG_WEBHOOK_SWEEP_GRACE_S", "60"))
CHIPREG_ALERT_FROM_EMAIL = env("CHIPREG_ALERT_FROM_EMAIL", "")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "chipreg@localhost")
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)

# Challenge inspections (inventory/services/challenges.py), after the Chemical Weapons Convention's Verification
# Annex, Part X: notification at least 12 hours before the team's arrival at the point of entry (paragraph 6),
# access within the requested perimeter no later than 108 hours after that arrival (paragraph 39). The party
# concerned acknowledges within the first; access is decided within the second, counted from the first's end.
CHIPREG_CHALLENGE_ACKNOWLEDGE_HOURS = float(env("CHIPREG_CHALLENGE_ACKNOWLEDGE_HOURS", "12"))
CHIPREG_CHALLENGE_ACCESS_HOURS = float(env("CHIPREG_CHALLENGE_ACCESS_HOURS", "108"))
# Severities of the alerts (compliance/challenge_alerts.py): the notice to the party concerned, an overdue
# step, a refusal of access.
CHIPREG_CHALLENGE_NOTICE_SEVERITY = env("CHIPREG_CHALLENGE_NOTICE_SEVERITY", "high")
CHIPREG_CHALLENGE_OVERDUE_SEVERITY = env("CHIPREG_CHALLENGE_OVERDUE_SEVERITY", "high")
CHIPREG_CHALLENGE_REFUSAL_SEVERITY = env("CHIPREG_CHALLENGE_REFUSAL_SEVERITY", "critical")
# Two challenges of unregistered sites this close are the same site (their seals are compared).
CHIPREG_CHALLENGE_SITE_RADIUS_KM = float(env("CHIPREG_CHALLENGE_SITE_RADIUS_KM", "1"))

CELERY_BEAT_SCHEDULE = {
    "deliver-due": {"task": "compliance.delivery.tasks.deliver_due", "schedule": 60.0},
    "ensure-partitions": {"task": "attestations.tasks.ensure_partitions", "schedule": 86400.0},
    "evaluate-all": {"task": "compliance.tasks.evaluate_all", "schedule": 900.0},
    "sign-checkpoint": {"task": "transparency.tasks.sign_checkpoint", "schedule": 5.0},
    "find-silent-chips": {"task": "inventory.tasks.find_silent_chips", "schedule": 3600.0},
    "find-unreported-chips": {"task": "inventory.tasks.find_unreported_chips", "schedule": 86400.0},
    "find-overdue-transfers": {"task": "inventory.tasks.find_overdue_transfers", "schedule": 86400.0},
    "find-hardware-unverified": {"task": "compliance.tasks.find_hardware_unverified", "schedule": 3600.0},
    "approve-runs-by-silence": {"task": "runs.tasks.approve_by_silence", "schedule": 3600.0},
    "escalate-overdue-clarifications": {"task": "compliance.tasks.escalate_overdue", "schedule": 600.0},
    "escalate-overdue-challenges": {"task": "compliance.tasks.escalate_challenges", "schedule": 300.0},
    "outbox-relay": {"task": "outbox.tasks.relay", "schedule": 10.0},
}

# Operations (ops/, README "Operations"): readiness thresholds, and the token that may read /metrics from
# elsewhere than loopback (unset: loopback only).
CHIPREG_READY_OUTBOX_LAG_S = float(env("CHIPREG_READY_OUTBOX_LAG_S", "600"))
CHIPREG_READY_CHECKPOINT_AGE_S = float(env("CHIPREG_READY_CHECKPOINT_AGE_S", "300"))
CHIPREG_READY_BROKER_TIMEOUT_S = float(env("CHIPREG_READY_BROKER_TIMEOUT_S", "1"))
CHIPREG_METRICS_TOKEN = env("CHIPREG_METRICS_TOKEN", "")

# One JSON object per line (core/logging.py), with the request id; LOG_FORMAT=text for a terminal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "core.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": env("LOG_FORMAT", "json")}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
