"""Settings, read from the environment with the `SEXTANT_` prefix.

One small class per area. Each is cached: read once per process.
"""

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _config() -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix="SEXTANT_", extra="ignore")


class CoreSettings(BaseSettings):
    model_config = _config()

    data_dir: Path = Path(".sextant")
    # Unset means embedded: a private Postgres/Redis under data_dir.
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = None
    log_level: str = "info"
    # Web server processes. One process uses one core for Python work; on 2 cores a
    # second one barely helps ingestion (bench/ingest.py: 6,300 vs 6,500 spans/s) and
    # doubles memory, so more are for bigger machines.
    web_workers: int = Field(default=1, ge=1, le=64)

    @property
    def embedded(self) -> bool:
        return self.database_url is None and self.redis_url is None

    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


class DatabaseSettings(BaseSettings):
    model_config = _config()

    db_pool_size: int = 10
    # The pool's capacity (size + overflow) less 2 reserved connections is also how many
    # requests one web process serves at once; more get 503 + Retry-After (app/core/middleware.py).
    db_max_overflow: int = 22
    # Seconds a request waits for a pooled connection before we answer 503.
    db_pool_timeout: float = 5.0


class AuthSettings(BaseSettings):
    model_config = _config()

    session_max_age: int = 14 * 24 * 3600
    # How long a web process trusts an API key it has looked up: a key revoked by another
    # process (or in SQL) still works there this long. 0 looks the key up on every request.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    cookie_secure: bool = False
    login_max_failures: int = 5
    login_window_seconds: int = 15 * 60
    # argon2id cost; the defaults follow argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=1024)


class LimitsSettings(BaseSettings):
    model_config = _config()

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Ingestion requests processed at once; more get 503 + Retry-After.
    ingest_max_in_flight: int = Field(default=16, ge=1)


class AnnotationSettings(BaseSettings):
    model_config = _config()

    # How long an annotator holds an item; the open page renews it.
    queue_lock_seconds: int = Field(default=300, ge=5)


class EvalSettings(BaseSettings):
    model_config = _config()

    # Evaluators whose MCC CI lower bound is below this are "not fit for gating".
    gate_min_mcc: float = Field(default=0.4, ge=-1, le=1)
    # An OpenAI-compatible endpoint enables the LLM judge family (all three needed).
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_max_calls: int = Field(default=400, ge=1)
    llm_max_tokens: int = Field(default=400_000, ge=1000)
    # Traces LLM judges may evaluate per project and UTC day (new traffic and backfills together):
    # a cap on the bill. Traces past it are left unjudged (a backfill can catch up); 0 = no cap.
    llm_daily_traces: int = Field(default=10_000, ge=0)

    def fit_for_gating(self, mcc_ci_low: float | None) -> bool:
        """The one rule: only an evaluator whose MCC is surely above the bar (its CI's lower
        bound) may gate a release. Evaluators and issue figures both ask here. Never one no
        better than chance (its interval reaches 0, see evals.generation.chance), whatever the bar."""
        return mcc_ci_low is not None and mcc_ci_low > 0 and mcc_ci_low >= self.gate_min_mcc

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_api_key and self.llm_model)


class GateSettings(BaseSettings):
    model_config = _config()

    # Defaults of a project's gate thresholds (each project can set its own):
    # the largest allowed rise of an issue's corrected failure rate (absolute: 0.02 = 2 points),
    gate_max_increase: float = Field(default=0.02, ge=0, le=1)
    # and the fewest evaluated outputs on each side for an issue to decide.
    gate_min_sample: int = Field(default=100, ge=1)
    # File runs: outputs evaluated per committed batch (progress moves by this much).
    gate_batch: int = Field(default=500, ge=1)


class JobSettings(BaseSettings):
    model_config = _config()

    # A running job renews its lease every third of this; a lease left to expire means
    # its worker died, and the relay sends the job again (or gives up after max attempts).
    job_lease_seconds: float = Field(default=60.0, ge=1)
    job_max_attempts: int = Field(default=5, ge=1, le=50)
    # A job sent but not started after this long is sent again (its message may be lost).
    job_resend_after_seconds: float = Field(default=900.0, ge=10)


class IssueSettings(BaseSettings):
    model_config = _config()

    # A new issue becomes "ongoing" this long after it was first seen.
    issue_new_window_days: int = Field(default=7, ge=1)
    # Escalation test (app/issues/escalation.py): the recent window against the issue's own baseline.
    issue_escalation_window_hours: int = Field(default=24, ge=1)
    issue_escalation_baseline_days: int = Field(default=28, ge=1)
    issue_escalation_min_baseline_days: int = Field(default=3, ge=0)
    issue_escalation_p_threshold: float = Field(default=0.001, gt=0, lt=1)
    issue_escalation_min_count: int = Field(default=5, ge=0)
    issue_escalation_min_ratio: float = Field(default=1.5, ge=1)
    # Clustering of unassigned failures: the newest ones only (the distance matrix is O(n^2)).
    issue_suggestions_max_failures: int = Field(default=3000, ge=10)
    # Webhook deliveries: per-attempt timeout, attempts in all, first back-off (doubles each time).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=30.0, gt=0)
    # Let webhooks reach loopback, private and link-local addresses (a receiver on this machine or
    # the internal network). Off: a URL is user input, and those addresses are the server's own.
    webhook_allow_private: bool = False


@lru_cache
def core_settings() -> CoreSettings:
    return CoreSettings()


@lru_cache
def job_settings() -> JobSettings:
    return JobSettings()


@lru_cache
def database_settings() -> DatabaseSettings:
    return DatabaseSettings()


@lru_cache
def auth_settings() -> AuthSettings:
    return AuthSettings()


@lru_cache
def limits_settings() -> LimitsSettings:
    return LimitsSettings()


def secret_key() -> str:
    """The configured secret, else one generated once and kept in the data dir."""
    configured = core_settings().secret_key
    if configured:
        return configured
    path = core_settings().data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


@lru_cache
def annotation_settings() -> AnnotationSettings:
    return AnnotationSettings()


@lru_cache
def eval_settings() -> EvalSettings:
    return EvalSettings()


@lru_cache
def issue_settings() -> IssueSettings:
    return IssueSettings()


@lru_cache
def gate_settings() -> GateSettings:
    return GateSettings()


def clear_caches() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    for cached in (core_settings, database_settings, auth_settings, limits_settings, annotation_settings,
                   eval_settings, issue_settings, gate_settings, job_settings):
        cached.cache_clear()
