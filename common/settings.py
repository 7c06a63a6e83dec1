"""One place for every setting, read from the environment.

Each process calls :func:`load_settings` once at start-up; nothing here runs at import.
Defaults give the embedded single-machine mode (SQLite under ``var/``, no Redis).
``.env.example`` lists every variable with its default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent

DEV_SECRET_MARKER = "dev-only"

# WeChat / WeCom channel settings, read verbatim (the field is the lower-cased name)
CHANNEL_VARIABLES = (
    "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY", "WECHAT_API_BASE_URL",
    "WECOM_CORP_ID", "WECOM_KF_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY", "WECOM_OPEN_KFID",
    "WECOM_API_BASE_URL", "WECOM_AGENT_SECRET", "WECOM_AGENT_ID", "WECOM_AGENT_TOKEN",
    "WECOM_AGENT_ENCODING_AES_KEY", "WECHAT_MSGMENU",
)


@dataclass(frozen=True)
class Settings:
    """Process settings. Field names mirror the environment variables (lower-cased)."""

    env: str = "development"
    var_dir: Path = REPO_ROOT / "var"
    database_url: str = ""
    redis_url: str = ""
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_auth_token: str = ""
    action_server_url: str = "http://127.0.0.1:5055/webhook"
    web_url: str = "http://127.0.0.1:8000"
    web_port: int = 8000
    rasa_port: int = 5005
    action_port: int = 5055
    embedding_model_dir: Path = REPO_ROOT / "var" / "models" / "e5-small"
    embedding_onnx_dir: Path = REPO_ROOT / "var" / "models" / "e5-small-onnx"
    embedding_backend: str = "onnx"          # onnx (fp32 graph on onnxruntime, ~2.5x faster) | torch (sentence-transformers)
    knowledge_dir: Path = REPO_ROOT / "knowledge" / "content"
    embedding_cache: Path = REPO_ROOT / "var" / "cache" / "embeddings.sqlite"
    log_level: str = "INFO"
    # --- hand-off to human agents (docs/handoff.md) ---
    public_web_url: str = ""                 # links in WeCom cards (agents' phones); empty = web_url
    handoff_service_hours: str = ""          # "HH:MM-HH:MM" Beijing time; empty = products.yml service hours
    handoff_idle_s: float = 1800.0           # a hand-off without messages for this long ends
    handoff_poll_s: float = 1.0              # how often user messages are relayed from Rasa's trackers
    handoff_agent_capacity: int = 3          # live chats per agent before auto-assignment skips them
    handoff_message_window_s: float = 600.0  # outside hours: user messages attached to the callback ticket
    handoff_rating_window_s: float = 600.0   # after the end: how long a 1-5 reply counts as the rating
    # --- channels: the variables credentials.yml expands for Rasa, docs/connectors.md ---
    wechat_token: str = ""
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_encoding_aes_key: str = ""
    wechat_api_base_url: str = ""            # empty = https://api.weixin.qq.com/cgi-bin/
    wecom_corp_id: str = ""
    wecom_kf_secret: str = ""
    wecom_token: str = ""
    wecom_encoding_aes_key: str = ""
    wecom_open_kfid: str = ""
    wecom_api_base_url: str = ""             # empty = https://qyapi.weixin.qq.com/cgi-bin/
    wecom_agent_secret: str = ""
    wecom_agent_id: str = ""
    wecom_agent_token: str = ""
    wecom_agent_encoding_aes_key: str = ""
    wechat_msgmenu: str = ""                 # true: clarifications as customer-service menu messages (verified accounts)
    # --- abuse protection (docs/security.md): token bucket per WeChat user ---
    rate_limit_per_minute: int = 20          # sustained messages per user and minute; 0 = no limit
    rate_limit_burst: int = 10               # messages a user may send at once
    # --- privacy (docs/privacy.md): encrypted transcripts, retention, legal hold ---
    transcript_keys: str = ""                # "k2:<32 hex>,k1:<32 hex>" SM4 keys, first active; empty = dev key (dev only)
    transcript_retention_days: int = 180     # transcripts, hand-offs, misses, tracker events older than this are purged
    quote_display_retention_days: int = 180  # proof-of-display records (quotes/audit.py); 0 = never purged by age
    privacy_purge_interval_s: float = 86400.0  # how often the web service runs the purge; 0 = never
    # --- quotes: quote as if today were this date (YYYY-MM-DD; staging and benchmarks); empty = today ---
    quote_business_date: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def app_database_url(self) -> str:
        """SQLAlchemy URL of the application database (knowledge, hand-offs, audit)."""
        return self.database_url or f"sqlite:///{self.var_dir / 'app.db'}"

    @property
    def tracker_store_url(self) -> str:
        """Rasa tracker store URL: the shared PostgreSQL when configured, else its own SQLite file."""
        if self.database_url.startswith("postgres"):
            return self.database_url.replace("postgres://", "postgresql://", 1)
        return f"sqlite:///{self.var_dir / 'tracker.db'}"

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)


def _env(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name)
    return default if value is None or value == "" else value


def load_settings(environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Build :class:`Settings` from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    var_dir = Path(_env(env, "INSUREBOT_VAR_DIR", str(REPO_ROOT / "var")))
    return Settings(
        env=_env(env, "INSUREBOT_ENV", "development"),
        var_dir=var_dir,
        database_url=env.get("DATABASE_URL", ""),
        redis_url=env.get("REDIS_URL", ""),
        rasa_url=_env(env, "RASA_URL", "http://127.0.0.1:5005"),
        rasa_auth_token=env.get("RASA_AUTH_TOKEN", ""),
        action_server_url=_env(env, "ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook"),
        web_url=_env(env, "WEB_URL", "http://127.0.0.1:8000"),
        web_port=int(_env(env, "WEB_PORT", "8000")),
        rasa_port=int(_env(env, "RASA_PORT", "5005")),
        action_port=int(_env(env, "ACTION_PORT", "5055")),
        # built once by `make install` in the checkout, whatever INSUREBOT_VAR_DIR a process uses
        embedding_model_dir=Path(_env(env, "EMBEDDING_MODEL_DIR", str(REPO_ROOT / "var" / "models" / "e5-small"))),
        embedding_onnx_dir=Path(_env(env, "EMBEDDING_ONNX_DIR",
                                     str(REPO_ROOT / "var" / "models" / "e5-small-onnx"))),
        embedding_backend=_env(env, "EMBEDDING_BACKEND", "onnx"),
        knowledge_dir=Path(_env(env, "KNOWLEDGE_DIR", str(REPO_ROOT / "knowledge" / "content"))),
        embedding_cache=Path(_env(env, "EMBEDDING_CACHE", str(var_dir / "cache" / "embeddings.sqlite"))),
        log_level=_env(env, "LOG_LEVEL", "INFO"),
        public_web_url=env.get("PUBLIC_WEB_URL", ""),
        handoff_service_hours=env.get("HANDOFF_SERVICE_HOURS", ""),
        handoff_idle_s=float(_env(env, "HANDOFF_IDLE_MINUTES", "30")) * 60,
        handoff_poll_s=float(_env(env, "HANDOFF_POLL_S", "1.0")),
        handoff_agent_capacity=int(_env(env, "HANDOFF_AGENT_CAPACITY", "3")),
        handoff_message_window_s=float(_env(env, "HANDOFF_MESSAGE_WINDOW_MINUTES", "10")) * 60,
        handoff_rating_window_s=float(_env(env, "HANDOFF_RATING_WINDOW_MINUTES", "10")) * 60,
        rate_limit_per_minute=int(_env(env, "RATE_LIMIT_PER_MINUTE", "20")),
        rate_limit_burst=int(_env(env, "RATE_LIMIT_BURST", "10")),
        transcript_keys=(env.get("TRANSCRIPT_KEYS") or "").strip(),
        transcript_retention_days=int(_env(env, "TRANSCRIPT_RETENTION_DAYS", "180")),
        quote_display_retention_days=int(_env(env, "QUOTE_DISPLAY_RETENTION_DAYS",
                                              _env(env, "TRANSCRIPT_RETENTION_DAYS", "180"))),
        privacy_purge_interval_s=float(_env(env, "TRANSCRIPT_PURGE_INTERVAL_HOURS", "24")) * 3600,
        quote_business_date=(env.get("QUOTE_BUSINESS_DATE") or "").strip(),
        **{name.lower(): (env.get(name) or "").strip() for name in CHANNEL_VARIABLES},
    )


def redis_host_port_db(redis_url: str) -> tuple[str, int, int]:
    """Split ``redis://host:port/db`` for Rasa's lock store, which wants the parts."""
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    db = int(parts.path.lstrip("/") or 0)
    return parts.hostname or "127.0.0.1", parts.port or 6379, db


def rasa_environment(settings: Settings) -> dict[str, str]:
    """The variables that endpoints.yml / credentials.yml expand (``${VAR}``) for Rasa."""
    lock_type, host, port, db = "in_memory", "", "6379", "0"
    if settings.uses_redis:
        lock_type = "redis"
        h, p, d = redis_host_port_db(settings.redis_url)
        host, port, db = h, str(p), str(d)
    return {
        "RASA_TRACKER_STORE_URL": settings.tracker_store_url,
        "RASA_LOCK_STORE_TYPE": lock_type,
        "RASA_LOCK_REDIS_HOST": host,
        "RASA_LOCK_REDIS_PORT": port,
        "RASA_LOCK_REDIS_DB": db,
        "ACTION_SERVER_URL": settings.action_server_url,
    }
