"""Configuration classes: the only place that reads environment variables."""

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL, make_url

VERSION = "0.1.0"  # kept equal to pyproject.toml's by a test


def _env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


def read_secret(name: str) -> str | None:
    """A secret from the environment variable `name`, or from the file that `name_FILE` points to."""
    value = os.environ.get(name)
    if value is None and os.environ.get(f"{name}_FILE"):
        value = Path(os.environ[f"{name}_FILE"]).read_text(encoding="utf-8").strip()
    return value


def read_key_ring(environ: Mapping[str, str] = os.environ) -> tuple[str | None, tuple[str, ...]]:
    """SECRET_KEY and the older keys that still verify (SECRET_KEY_FALLBACKS).

    SECRET_KEY, else the first line of the file SECRET_KEY_FILE names, signs; the file's further lines and
    SECRET_KEY_FALLBACKS (separated by commas or whitespace) only verify.
    """
    if environ.get("SECRET_KEY") is not None:
        keys = [environ["SECRET_KEY"].strip()]
    elif environ.get("SECRET_KEY_FILE"):
        keys = Path(environ["SECRET_KEY_FILE"]).read_text(encoding="utf-8").splitlines()
    else:
        keys = []
    keys = [key.strip() for key in keys if key.strip()]
    fallbacks = environ.get("SECRET_KEY_FALLBACKS", "").replace(",", " ").split()
    return (keys[0] if keys else None), (*keys[1:], *fallbacks)


def _secret_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in (read_secret(name) or "").split(",") if item.strip())


# The push services of Chrome and Android (FCM), Firefox (Mozilla), Safari (Apple) and Edge (Microsoft).
KNOWN_PUSH_SERVICES = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "*.push.services.mozilla.com",
    "*.push.apple.com",
    "*.notify.windows.com",
)


class Config:
    """Defaults for a local run: SQLite in the instance folder, Redis and the provider stub on loopback."""

    SQLALCHEMY_DATABASE_URI = _env_str("DATABASE_URL", "sqlite:///nootification.db")
    MIGRATIONS_DIRECTORY = str(Path(__file__).resolve().parent.parent / "migrations")
    REDIS_URL = _env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUE_NAME = _env_str("RQ_QUEUE_NAME", "notifications")

    # Alerts: which labels exist and which of them are critical; every other label is standard.
    ALERT_LABELS = _env_list("ALERT_LABELS", ("theft", "suspicious", "normal"))
    CRITICAL_LABELS = _env_list("CRITICAL_LABELS", ("theft",))

    # The push provider (third_party.py in a local run) and how we talk to it.
    THIRD_PARTY_URL = _env_str("THIRD_PARTY_URL", "http://127.0.0.1:5000")
    HTTP_CONNECT_TIMEOUT = _env_float("HTTP_CONNECT_TIMEOUT", 3.05)
    HTTP_READ_TIMEOUT = _env_float("HTTP_READ_TIMEOUT", 10.0)
    SEND_MAX_ATTEMPTS = _env_int("SEND_MAX_ATTEMPTS", 3)
    SEND_RETRY_WAIT = _env_float("SEND_RETRY_WAIT", 3.0)
    # The longest a provider's Retry-After may stretch the wait between two tries, seconds.

    # Channel providers: base URLs default to the public APIs; tests and the stub point them at loopback.
    # Their tokens and passwords are secrets, read by the senders (see MessageSender.secret), never here.
    SLACK_API_URL = _env_str("SLACK_API_URL", "https://slack.com/api")
    TELEGRAM_API_URL = _env_str("TELEGRAM_API_URL", "https://api.telegram.org")
    TWILIO_API_URL = _env_str("TWILIO_API_URL", "https://api.twilio.com")
    TWILIO_FROM_NUMBER = _env_str("TWILIO_FROM_NUMBER", "")
    # Voice calls (staff/voice.py): a call that ends no-answer, busy or failed is placed again after
    # VOICE_RETRY_SECONDS while the alert is unclaimed, VOICE_MAX_TRIES calls in all; a number whose calls end
    # `failed` VOICE_PAUSE_AFTER_FAILURES times in a row is called no more for VOICE_PAUSE_SECONDS.
    VOICE_RETRY_SECONDS = _env_float("VOICE_RETRY_SECONDS", 60.0)
    VOICE_MAX_TRIES = _env_int("VOICE_MAX_TRIES", 3)
    VOICE_PAUSE_AFTER_FAILURES = _env_int("VOICE_PAUSE_AFTER_FAILURES", 3)
    VOICE_PAUSE_SECONDS = _env_float("VOICE_PAUSE_SECONDS", 3600.0)
    SMTP_HOST = _env_str("SMTP_HOST", "localhost")
    SMTP_PORT = _env_int("SMTP_PORT", 587)
    SMTP_SECURITY = _env_str("SMTP_SECURITY", "starttls")
    SMTP_FROM = _env_str("SMTP_FROM", "nootification@localhost")
    SMTP_TIMEOUT = _env_float("SMTP_TIMEOUT", 10.0)
    # A CA bundle for a relay whose certificate the system does not trust; empty: the system's CAs.
    SMTP_CA_FILE = _env_str("SMTP_CA_FILE", "")
    # Web Push: the VAPID private key is the secret WEBPUSH_VAPID_PRIVATE_KEY (base64url of the raw 32 bytes,
    # or PEM), read by the sender; the subject is how a push service reaches us (mailto: or https:; empty:
    # mailto:SMTP_FROM).
    WEBPUSH_VAPID_SUBJECT = _env_str("WEBPUSH_VAPID_SUBJECT", "")
    # FCM HTTP v1: the service account's JSON key is the secret FCM_SERVICE_ACCOUNT (usually its file,
    # FCM_SERVICE_ACCOUNT_FILE); the access token comes from the key's own token_uri.
    FCM_API_URL = _env_str("FCM_API_URL", "https://fcm.googleapis.com")

    # After the quick in-job attempts, a transient failure is rescheduled with exponential backoff
    # and full jitter, honouring the provider's Retry-After up to a cap, until the alert is stale.
    RETRY_BACKOFF_BASE = _env_float("RETRY_BACKOFF_BASE", 5.0)
    RETRY_BACKOFF_CAP = _env_float("RETRY_BACKOFF_CAP", 300.0)
    RETRY_AFTER_MAX = _env_float("RETRY_AFTER_MAX", 600.0)
    FRESHNESS_CRITICAL = _env_float("FRESHNESS_CRITICAL", 15 * 60.0)
    FRESHNESS_STANDARD = _env_float("FRESHNESS_STANDARD", 60 * 60.0)

    # Calm (delivery/grouping.py): alerts of one label at one shop within a window form a group, whose first
    # alert rings and whose others are summed up at the window's end (a shop's own `group_window_seconds`
    # wins; 0: no grouping); nobody is rung for more than MAX_MESSAGES_PER_PERSON alerts of a shop per 10
    # minutes: the others wait for the group's summary (0: no cap).
    GROUP_WINDOW_SECONDS = _env_int("GROUP_WINDOW_SECONDS", 120)
    MAX_MESSAGES_PER_PERSON = _env_int("MAX_MESSAGES_PER_PERSON", 6)

    # The sweeper queues what was never queued or was lost, and takes back deliveries whose worker died.
    SWEEP_INTERVAL = _env_int("SWEEP_INTERVAL", 10)
    PENDING_GRACE = _env_float("PENDING_GRACE", 5.0)
    DELIVERY_LEASE = _env_float("DELIVERY_LEASE", 120.0)

    # Forgetting (GDPR; video at most a month, CSI art. L.252-3): days after an alert's receipt when its clip
    # URL and its staff links go, and when the texts and addresses its deliveries' ledger quoted go.
    RETENTION_CLIP_DAYS = _env_int("RETENTION_CLIP_DAYS", 30)
    RETENTION_MESSAGE_DAYS = _env_int("RETENTION_MESSAGE_DAYS", 90)
    # `flask purge` pauses after each full batch, leaving the database and the cores to the alerts between
    # two; the daily job, run in a delivery engine's loop, gives that loop back after a slice this long.
    PURGE_PAUSE_SECONDS = _env_float("PURGE_PAUSE_SECONDS", 0.1)
    PURGE_SLICE_SECONDS = _env_float("PURGE_SLICE_SECONDS", 1.0)

    # Circuit breaker per channel and destination host, shared by every worker through Redis.
    BREAKER_FAILURE_THRESHOLD = _env_int("BREAKER_FAILURE_THRESHOLD", 5)
    BREAKER_COOLDOWN = _env_float("BREAKER_COOLDOWN", 30.0)

    # Alerts must carry a Standard Webhooks signature made with one of these secrets (several at once
    # during a rotation) or an alerts:write bearer token; the quick start also accepts neither.
    ALERT_WEBHOOK_SECRETS = _secret_list("ALERT_WEBHOOK_SECRETS")
    ALLOW_UNAUTHENTICATED_ALERTS = _env_bool("ALLOW_UNAUTHENTICATED_ALERTS", False)

    # Rate limits per bearer token, or per client address without one (flask-limiter, on Redis).
    # Proxies in front of the API whose X-Forwarded-For to trust (compose's nginx: 1). With 0 the client's
    # address is the connection's, and a forwarded header is ignored: a client cannot pick its rate limit.
    PROXY_HOPS = _env_int("PROXY_HOPS", 0)
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_DEFAULT = _env_str("RATELIMIT_DEFAULT", "300 per minute")
    RATELIMIT_ALERTS = _env_str("RATELIMIT_ALERTS", "6000 per minute")
    RATELIMIT_PREFERENCES = _env_str("RATELIMIT_PREFERENCES", "60 per minute")
    # Twilio's signed callbacks (SMS receipts and replies) come in bursts from a few addresses: their own
    # limit instead of the per-address default.
    RATELIMIT_TWILIO = _env_str("RATELIMIT_TWILIO", "6000 per minute")
    # Staff links count per link (one this service did not sign counts against its address), so that junk from
    # a shop's shared Wi-Fi cannot block a real link; per address only a coarse cap over every staff route.
    RATELIMIT_STAFF = _env_str("RATELIMIT_STAFF", "60 per minute")
    RATELIMIT_STAFF_PER_ADDRESS = _env_str("RATELIMIT_STAFF_PER_ADDRESS", "1200 per minute")
    # The headers are ours (security.add_rate_limit_headers), so that the alert webhook can go without.
    RATELIMIT_HEADERS_ENABLED = False
    # Two counters per key, weighted: a moving window's approximation that keeps no list of every hit.
    RATELIMIT_STRATEGY = "sliding-window-counter"
    RATELIMIT_KEY_PREFIX = "nootification-limits"
    # When Redis is down, requests are let through: an alert must never be refused for that.
    RATELIMIT_SWALLOW_ERRORS = True

    # Contact points may name webhook URLs; unless allowed, those must resolve to public addresses only.
    ALLOW_PRIVATE_WEBHOOK_TARGETS = _env_bool("ALLOW_PRIVATE_WEBHOOK_TARGETS", False)
    # The push services a Web Push subscription's endpoint may name: `host` or `host:port`, `*.` for any
    # subdomain. Browsers subscribe at their vendor's; any other endpoint is refused.
    WEB_PUSH_SERVICE_HOSTS = _env_list("WEB_PUSH_SERVICE_HOSTS", KNOWN_PUSH_SERVICES)

    # How stale a process's copy of the message templates and routing rules may be, in seconds.
    TEMPLATE_CACHE_SECONDS = _env_float("TEMPLATE_CACHE_SECONDS", 5.0)

    # Requests larger than this are refused with 413 before they are parsed.
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 64 * 1024)

    # Metrics. With PROMETHEUS_MULTIPROC_DIR set (the same directory for the API's gunicorn workers and
    # the RQ workers of one host), prometheus-client keeps every process's counters in files there and
    # /metrics adds them up. METRICS_PORT > 0 gives `flask worker` its own /metrics (docker-compose).
    PROMETHEUS_MULTIPROC_DIR = _env_str("PROMETHEUS_MULTIPROC_DIR", "")
    METRICS_PORT = _env_int("METRICS_PORT", 0)
    METRICS_ADDR = _env_str("METRICS_ADDR", "127.0.0.1")
    # An RQ worker refreshes its registration every WORKER_TTL - 15 s while idle and is gone from the
    # registry WORKER_TTL + 60 s after its last heartbeat: the bound on noticing a killed worker.
    WORKER_TTL = _env_int("WORKER_TTL", 60)
    # The delivery engine: how many deliveries one `flask worker` keeps in flight (each a thread waiting on
    # its provider), how many jobs it takes from the queue in one round trip, and how long a stop signal
    # waits for the sends in flight before handing the rest back to the queue.
    WORKER_CONCURRENCY = _env_int("WORKER_CONCURRENCY", 32)
    WORKER_BATCH = _env_int("WORKER_BATCH", 32)
    WORKER_STOP_TIMEOUT = _env_float("WORKER_STOP_TIMEOUT", 20.0)
    # A location with at least SILENT_LOCATION_MIN_ALERTS alerts over the last 7 days and none for
    # SILENT_LOCATION_HOURS is counted silent: its cameras or their link to us may be broken.
    SILENT_LOCATION_MIN_ALERTS = _env_int("SILENT_LOCATION_MIN_ALERTS", 50)
    SILENT_LOCATION_HOURS = _env_float("SILENT_LOCATION_HOURS", 12.0)

    # The key ring (services/keys.py): SECRET_KEY signs the ops page's tickets and the staff's action links,
    # the older SECRET_KEY_FALLBACKS still verify them; the oldest keys the vendor's pseudonyms. From
    # SECRET_KEY and SECRET_KEY_FALLBACKS, or from the lines of SECRET_KEY_FILE (first line signs), which
    # `flask keys rotate` rewrites. Every API and worker process must share it. Unset: the ops page cannot
    # connect, messages go out without an action link and the vendor's events without pseudonyms.
    SECRET_KEY, SECRET_KEY_FALLBACKS = read_key_ring()
    SECRET_KEY_FILE = _env_str("SECRET_KEY_FILE", "")
    # Where staff phones reach the API: the base of the action link in every message ("" leaves it out).
    PUBLIC_URL = _env_str("PUBLIC_URL", "http://127.0.0.1:8000")
    # An action link works until its alert is stale (FRESHNESS_*) plus this many hours.
    STAFF_LINK_HOURS = _env_float("STAFF_LINK_HOURS", 4.0)
    # Chat buttons that call back: the secret token Telegram's webhook was set with; Slack's signing secret.
    TELEGRAM_WEBHOOK_SECRET = read_secret("TELEGRAM_WEBHOOK_SECRET")
    SLACK_SIGNING_SECRET = read_secret("SLACK_SIGNING_SECRET")
    # Where each recorded outcome goes, as a Standard Webhooks event signed with VENDOR_WEBHOOK_SECRET ("":
    # nowhere); sent by the delivery engine for at most OUTCOME_EVENT_MAX_ATTEMPTS rounds of tries (each round
    # up to SEND_MAX_ATTEMPTS quick attempts), backed off as deliveries are.
    VENDOR_OUTCOME_URL = _env_str("VENDOR_OUTCOME_URL", "")
    VENDOR_WEBHOOK_SECRET = read_secret("VENDOR_WEBHOOK_SECRET")
    OUTCOME_EVENT_MAX_ATTEMPTS = _env_int("OUTCOME_EVENT_MAX_ATTEMPTS", 20)
    # A fresh critical alert unclaimed this many seconds after its receipt counts as unclaimed (metrics).
    UNCLAIMED_AFTER = _env_float("UNCLAIMED_AFTER", 60.0)
    # The ops page shows the OPS_RECENT_ALERTS latest alerts. Each open page holds one server thread, so
    # its stream ends after OPS_STREAM_SECONDS (the page reconnects) and a process serves at most
    # OPS_MAX_STREAMS streams at once; each stream reads the database every OPS_POLL_INTERVAL seconds.
    OPS_RECENT_ALERTS = _env_int("OPS_RECENT_ALERTS", 20)
    OPS_STREAM_SECONDS = _env_float("OPS_STREAM_SECONDS", 300.0)
    OPS_MAX_STREAMS = _env_int("OPS_MAX_STREAMS", 2)
    OPS_POLL_INTERVAL = _env_float("OPS_POLL_INTERVAL", 1.0)

    LOG_LEVEL = _env_str("LOG_LEVEL", "INFO")
    LOG_FORMAT = _env_str("LOG_FORMAT", "json")  # json lines, or "text" for people
    SENTRY_DSN = _env_str("SENTRY_DSN", "")
    SENTRY_ENVIRONMENT = _env_str("SENTRY_ENVIRONMENT", "production")
    SENTRY_RELEASE = _env_str("SENTRY_RELEASE", f"nootification@{VERSION}")
    SENTRY_SAMPLE_RATE = _env_float("SENTRY_SAMPLE_RATE", 1.0)
    SENTRY_TRACES_SAMPLE_RATE = _env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)

    API_TITLE = "nootification"
    API_VERSION = VERSION
    OPENAPI_VERSION = "3.1.0"
    OPENAPI_URL_PREFIX = "/"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "/docs/assets/"
    # Swagger UI 5 would otherwise offer to check the document at an outside validator.
    OPENAPI_SWAGGER_UI_CONFIG = {"validatorUrl": None}
    API_SPEC_OPTIONS = {
        "info": {"description": "Gets a shop's theft alert onto the phones of the staff in that shop."},
        "security": [{"bearerAuth": []}],
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "From `flask tokens create`: alerts:write, preferences:self or admin.",
                },
                "webhookSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "webhook-signature",
                    "description": "Standard Webhooks: v1,base64(HMAC-SHA256(id.timestamp.body)), "
                    "with webhook-id and webhook-timestamp headers, within ±5 minutes.",
                },
            }
        },
    }
    # None: sized from WORKER_CONCURRENCY by `engine_options`; a dict here is used as it is.
    SQLALCHEMY_ENGINE_OPTIONS: dict | None = None
    DATABASE_POOL_SIZE = _env_int("DATABASE_POOL_SIZE", 10)  # connections each process keeps open
    DATABASE_POOL_RECYCLE = _env_int("DATABASE_POOL_RECYCLE", 1800)  # seconds before one is reopened
    # PostgreSQL: seconds of silence after which either end drops a connection to a host it cannot reach.
    DATABASE_DEAD_PEER_SECONDS = _env_int("DATABASE_DEAD_PEER_SECONDS", 12)


def engine_options(config: Mapping) -> dict:
    """SQLAlchemy's pool for this process: a connection for each sending slot at once, never a pre-ping.

    The worker's loop and each of its WORKER_CONCURRENCY slots may hold a connection together (a slot
    records a retry's start on its own), so none ever waits for one. No pre-ping on checkout (a round trip
    per transaction): a connection the database dropped fails its first statement, the pool is then renewed,
    and the worker does that work again; the API answers that one request 503.
    """
    if config["SQLALCHEMY_ENGINE_OPTIONS"] is not None:
        return config["SQLALCHEMY_ENGINE_OPTIONS"]
    if is_in_memory_sqlite(config["SQLALCHEMY_DATABASE_URI"]):
        return {}  # one connection shared by every thread: no pool to size
    options = {
        "pool_size": config["DATABASE_POOL_SIZE"],
        "max_overflow": config["WORKER_CONCURRENCY"] + 1,
        "pool_recycle": config["DATABASE_POOL_RECYCLE"],
    }
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = dead_peer_arguments(config["DATABASE_DEAD_PEER_SECONDS"], url)
    return options


def dead_peer_arguments(seconds: int, url: URL) -> dict:
    """libpq's settings that drop a PostgreSQL connection whose other end stays silent for about `seconds`.

    Linux waits two hours before it probes an idle TCP connection. A worker host cut off from the network
    would hold its open transaction's row locks that long, stalling the other hosts' sweeper, and would wait
    as long itself on a reply that never comes. Both ends probe after half the time, three times over the
    other half, and give up on data left unacknowledged as long: the server then rolls the transaction back,
    the worker gets an error and carries on as after any dropped connection.
    """
    idle, interval = max(1, seconds // 2), max(1, seconds // 6)
    server = (
        f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} -c tcp_keepalives_count=3 "
        f"-c tcp_user_timeout={seconds * 1000}"
    )
    given = url.query.get("options")
    return {
        "keepalives": 1,
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": 3,
        "tcp_user_timeout": seconds * 1000,
        "options": f"{given} {server}" if given else server,
    }


def is_in_memory_sqlite(url: str) -> bool:
    """Whether a database URL names an in-memory SQLite database."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


class TestConfig(Config):
    """Settings for the test suite: no waiting between retries, short HTTP timeouts, no rate limits."""

    TESTING = True
    RATELIMIT_ENABLED = False
    TEMPLATE_CACHE_SECONDS = 0.0
    ALLOW_PRIVATE_WEBHOOK_TARGETS = True  # the stub providers listen on loopback
    WEB_PUSH_SERVICE_HOSTS = (*KNOWN_PUSH_SERVICES, "127.0.0.1")  # and so does the stub's push service
    SQLALCHEMY_DATABASE_URI = _env_str("TEST_DATABASE_URL", "sqlite://")
    SEND_RETRY_WAIT = 0.01
    # Every alert rings, as the tests of everything else expect; the tests of calm switch these on.
    GROUP_WINDOW_SECONDS = 0
    MAX_MESSAGES_PER_PERSON = 0
    HTTP_CONNECT_TIMEOUT = 1.0
    HTTP_READ_TIMEOUT = 1.0
    SMTP_TIMEOUT = 1.0
    SECRET_KEY = "test-only-secret-key"
    SECRET_KEY_FALLBACKS = ()
    SECRET_KEY_FILE = ""
