"""One Settings object, read from RANKLAB_* environment variables (and a .env file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"
# The roles of app.accounts.models.Role (this layer cannot import it; a test keeps the two equal).
RoleName = Literal["admin", "researcher", "annotator"]
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RANKLAB_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"))
    """Folder for the SQLite file, the generated secret key and the converted-model cache."""

    database_url: str = ""
    """SQLAlchemy URL; empty means the embedded SQLite file `<data_dir>/ranklab.db`."""

    secret_key: str = ""
    """Signs session cookies; when unset, generated once into `<data_dir>/secret_key`."""

    host: str = "127.0.0.1"
    """Address `ranklab serve` binds to."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port `ranklab serve` listens on."""

    session_max_age_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    """The longest a browser login lasts, however active (the absolute cap)."""

    session_idle_seconds: int = Field(default=12 * 3600, ge=60)
    """A browser login unused this long ends (sliding expiry, capped by the above)."""

    login_rate_limit_per_account: str = "5/minute;20/hour"
    """Failed logins (and invite attempts) allowed per account before a temporary lock;
    `limits` syntax, several windows separated by ';' (empty: no limit)."""

    login_rate_limit_per_address: str = "20/minute;100/hour"
    """Failed logins (and invite attempts) allowed per client address."""

    api_rate_limit_per_token: str = "1200/minute"
    """Requests one API token may make (empty: no limit)."""

    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies whose X-Forwarded-For header names the real client (comma-separated IPs or
    networks, `*` for any). Set it to your HTTPS proxy's address, or every browser shares
    the proxy's address in the per-address login limit."""

    rate_limit_storage: str = "memory://"
    """Where rate-limit counters live: `memory://` (this process) or a `limits` storage
    URL such as `redis://host:6379` to share them between app processes."""

    metrics_token: str = ""
    """Bearer token a Prometheus scraper sends to read /metrics; empty: /metrics answers
    only callers on this host's loopback interface that came through no proxy."""

    docs_enabled: bool = True
    """Serve the OpenAPI document and Swagger UI at /docs (assets from the installed
    fastapi-offline package, never a CDN)."""

    secure_cookies: bool = False
    """Mark the session cookie Secure; turn on behind HTTPS."""

    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest request body accepted (imports are the big ones)."""

    run_worker_in_process: bool = True
    """`ranklab serve` also runs a generation worker thread (the single-machine default)."""

    default_model: str = "smollm2"
    """Generation model: `smollm2` (the bundled GGUF), a Hub id, a local folder or a .gguf path."""

    openai_base_url: str = ""
    """Base URL of an OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama)."""

    openai_model: str = ""
    """Model name sent to the OpenAI-compatible server when a prompt set names none."""

    openai_api_key: str = ""
    """API key sent to the OpenAI-compatible server, if it needs one."""

    openai_concurrency: int = Field(default=4, ge=1, le=256)
    """Requests in flight at once against the OpenAI-compatible server."""

    openai_timeout_seconds: float = Field(default=120.0, gt=0)
    """Per-request timeout against the OpenAI-compatible server."""

    generation_threads: int = Field(default=0, ge=0, le=256)
    """CPU threads for local generation (torch); 0: all cores for `ranklab worker`, all but
    one for the worker inside `ranklab serve` (requests keep a core). On a machine shared
    with other busy processes, 1 is often faster than oversubscribing."""

    generation_idle_unload_seconds: float = Field(default=300.0, ge=0)
    """A worker with no generation work for this long drops its loaded models (their
    memory goes back to the system; the next job reloads from the converted copy in a
    second or two). 0 keeps them loaded."""

    generation_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    """Weights for local generation: auto picks bfloat16 where the CPU has native bf16
    (about 2x the batched throughput of float32 here) or a GPU is used, else float32."""

    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    """How often a generation worker proves it is alive."""

    worker_stale_seconds: float = Field(default=60.0, gt=0)
    """A job whose heartbeat is older than this is taken over by another worker."""

    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    """Per-request timeout of a webhook delivery (connect, read, write); the background
    worker sends, never a request, so a slow receiver only delays the next delivery."""

    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    """Tries per webhook delivery before it is given up and its endpoint marked failing."""

    webhook_backoff_seconds: float = Field(default=30.0, ge=0)
    """Wait before the first retry of a webhook delivery; it doubles with each attempt."""

    webhook_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    """The longest wait between two tries of a webhook delivery (the backoff's cap)."""

    webhook_batch: int = Field(default=20, ge=1, le=500)
    """Webhook deliveries one worker claims and sends (concurrently) per round."""

    @field_validator(
        "login_rate_limit_per_account", "login_rate_limit_per_address", "api_rate_limit_per_token"
    )
    @classmethod
    def _limit_syntax(cls, value: str) -> str:
        from app.core.rate_limits import parse_limits

        parse_limits(value)  # raises ValueError with the library's message
        return value

    password_login: bool = True
    """Username/password login on the login page. Turn off once single sign-on works: the
    form is hidden and a password POST is refused (API tokens keep working)."""

    oidc_issuer: str = ""
    """Single sign-on: the OpenID Connect provider's issuer URL (its
    `/.well-known/openid-configuration` is read from there). Empty: no single sign-on."""

    oidc_client_id: str = ""
    """The client id Ranklab is registered under at the provider."""

    oidc_client_secret: str = ""
    """The client secret of that registration (a confidential client)."""

    oidc_display_name: str = "single sign-on"
    """The provider's name on the login button: "Sign in with <this>"."""

    oidc_scopes: str = "openid email profile"
    """Scopes asked for; `openid` is required, `email profile` give the user name."""

    oidc_default_role: RoleName = "annotator"
    """Role of a user created at their first single sign-on, and of anyone the role map
    below places nowhere."""

    oidc_role_claim: str = ""
    """ID token claim (a string or a list of strings, e.g. `groups` or `roles`) mapped to
    a role by `oidc_role_map` at every sign-on. Empty: roles are managed in Ranklab."""

    oidc_role_map: dict[str, RoleName] = Field(default_factory=dict)
    """JSON object, claim value -> role, e.g. `{"ranklab-admins": "admin"}`. A user
    whose claim values map to several roles gets the strongest; to none, the default."""

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("RANKLAB_OIDC_ISSUER is set but RANKLAB_OIDC_CLIENT_ID is empty")
        if self.oidc_issuer and "openid" not in self.oidc_scopes.split():
            raise ValueError("RANKLAB_OIDC_SCOPES must include 'openid'")
        if self.oidc_role_map and not self.oidc_role_claim:
            raise ValueError("RANKLAB_OIDC_ROLE_MAP is set but RANKLAB_OIDC_ROLE_CLAIM is empty")
        if not self.password_login and not self.oidc_issuer:
            raise ValueError(
                "RANKLAB_PASSWORD_LOGIN is off and no RANKLAB_OIDC_ISSUER is set: "
                "nobody could log in to the web pages"
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    reward_min_comparisons: int = Field(default=50, ge=1)
    """A reward model version needs at least this many comparisons of its prompt set."""

    reward_full_time_budget_seconds: float = Field(default=3600.0, gt=0)
    """A full reward model whose estimated training time exceeds this is refused up front."""

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ranklab.db'}"

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def tokenizer_dir(self) -> Path:
        """Extra tokenizers exports may use, by folder (or .gguf file) name."""
        return self.data_dir / "tokenizers"

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data folder.

        There is never a hard-coded default: a fresh install gets its own random key.
        """
        if self.secret_key:
            if len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
                raise ValueError(
                    f"RANKLAB_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters"
                )
            return self.secret_key
        self.ensure_data_dir()
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
