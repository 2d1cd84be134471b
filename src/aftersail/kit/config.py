"""The one Settings object, read from `AFTERSAIL_*` environment variables (or a `.env` file)."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "change-me-in-production"
SUPPORTED_LOCALES = ("en", "zh", "es", "fr", "de", "it", "pt", "ja", "ko", "ar")
CONSOLE_LOCALES = ("zh", "en")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFTERSAIL_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means an SQLite file in the data directory. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    redis_url: str | None = Field(default=None, description="Redis URL for realtime fan-out across processes")
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = ""
    default_locale: str = "en"
    console_default_locale: str = "zh"
    log_json: bool = False
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    run_dispatcher: bool = Field(default=True, description="Run the outbox dispatcher inside the server")
    outbox_lease_seconds: float = Field(default=60.0, gt=0, description="How long a claimed event is held")
    outbox_poll_seconds: float = Field(default=0.5, gt=0, description="Idle dispatcher poll interval")
    outbox_linger_seconds: float = Field(
        default=0.02, ge=0, le=1, description="Wait after a wake-up, to deliver close commits together"
    )
    outbox_busy_interval_seconds: float = Field(
        default=0.05, ge=0, le=1, description="Under load, the shortest time between two claims"
    )
    outbox_retry_base_seconds: float = Field(default=2.0, gt=0, description="First retry delay (doubles)")
    outbox_retry_max_seconds: float = Field(default=600.0, gt=0, description="Longest retry delay")
    outbox_drain_seconds: float = Field(default=10.0, ge=0, description="Grace for in-flight events on stop")
    worker_imports: str = Field(
        default="", description="Extra comma-separated modules whose handlers register"
    )
    session_max_age_seconds: int = 12 * 3600
    buyer_link_max_age_seconds: int = 30 * 24 * 3600
    secure_cookies: bool | None = Field(default=None, description="Defaults to on when the base URL is https")
    # Translation (support messages both ways): libretranslate, openai (any compatible API), or "" for none.
    translation_provider: str = Field(default="", pattern="^(|libretranslate|openai)$")
    translation_url: str = ""
    translation_api_key: SecretStr | None = None
    translation_model: str = ""
    translation_timeout_seconds: float | None = Field(default=None, gt=0, le=120)
    translation_code_map: str = Field(default="", description="e.g. zh=zh-Hans for newer LibreTranslate")
    language_low_accuracy: bool = Field(default=False, description="Smaller, less accurate language models")
    # The assistant answers the buyers of tenants that switched it on (tenant setting assistant.enabled).
    assistant_enabled: bool = Field(default=True, description="Let the assistant answer buyers at all")
    assistant_warm_up: bool = Field(default=True, description="Load or train the intent model at start-up")
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # E-mail channel. Each tenant's support address is <tenant slug>@<mail_domain>; replies carry a signed
    # plus address (<slug>+t<ticket>.<mac>@<mail_domain>) and threading headers.
    mail_domain: str = Field(default="mail.aftersail.localhost", description="Domain of support addresses")
    smtp_host: str = Field(default="", description="Outbound SMTP server; empty: e-mail replies are not sent")
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    inbound_smtp_port: int = Field(default=0, ge=0, le=65535, description="Built-in SMTP receiver; 0: off")
    inbound_smtp_host: str = "127.0.0.1"
    imap_host: str = Field(default="", description="Mailbox polled for inbound e-mail; empty: off")
    imap_port: int = 993
    imap_ssl: bool = True
    imap_user: str = ""
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    imap_tenant: str = Field(default="", description="Slug of the tenant whose mailbox IMAP polls")
    imap_poll_seconds: float = Field(default=60.0, gt=0)
    # Refunds to the original payment (returns/payments.py): "manual" (the seller pays out by hand) or Stripe.
    payments_provider: Literal["manual", "stripe"] = "manual"
    payments_base_url: str = "https://api.stripe.com"
    payments_api_key: SecretStr | None = Field(default=None, description="Stripe secret key (sk_live_…)")
    # Carriers without webhooks, polled through 17TRACK's pull API (shipping/polling.py); empty: no polling.
    tracking_poll_base_url: str = Field(default="", description="e.g. https://api.17track.net")
    tracking_poll_api_key: SecretStr | None = Field(default=None, description="17TRACK API key (17token)")
    # Video inspection calls (video/): "auto" starts a local Janus beside the server when it is installed,
    # "external" uses the Janus at janus_http_url, "off" disables video calls.
    video_media: Literal["auto", "external", "off"] = "auto"
    janus_http_url: str = Field(default="", description="Janus HTTP API the server uses (external Janus)")
    janus_browser_url: str = Field(
        default="", description="Janus WebSocket URL browsers use, e.g. wss://media.example.com/janus"
    )
    janus_http_port: int = Field(default=8088, ge=0, le=65535, description="Local Janus's HTTP API port")
    janus_ws_port: int = Field(default=8188, ge=0, le=65535, description="Local Janus's WebSocket port")
    janus_rtp_ports: str = Field(default="20000-40000", pattern=r"^\d+-\d+$")
    janus_interfaces: str = Field(default="", description="Interfaces Janus gathers ICE candidates on")
    janus_public_ip: str = Field(default="", description="Public address of a Janus behind 1:1 NAT")
    janus_token_secret: SecretStr | None = Field(default=None, description="Defaults to one derived")
    janus_admin_key: SecretStr | None = Field(default=None, description="Defaults to one derived")
    # TURN for buyers behind strict NATs (coturn, see docs/video.md): given to browsers and to Janus.
    turn_url: str = Field(default="", description="e.g. turn:turn.example.com:3478?transport=udp")
    turn_username: str = ""
    turn_password: SecretStr | None = None
    stun_url: str = Field(default="", description="e.g. stun:stun.example.com:3478")
    video_bitrate: int = Field(default=1_000_000, ge=64_000, le=8_000_000, description="Video cap, bit/s")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env is Environment.PRODUCTION and self.secret_key.get_secret_value() == DEFAULT_SECRET:
            raise ValueError(
                "AFTERSAIL_SECRET_KEY is still the default; set a long random value outside development"
            )
        if self.env is Environment.PRODUCTION and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("AFTERSAIL_SECRET_KEY must be at least 32 characters in production")
        if self.default_locale not in SUPPORTED_LOCALES:
            raise ValueError(f"AFTERSAIL_DEFAULT_LOCALE must be one of {', '.join(SUPPORTED_LOCALES)}")
        if self.payments_provider == "stripe" and not (
            self.payments_api_key and self.payments_api_key.get_secret_value()
        ):
            raise ValueError("AFTERSAIL_PAYMENTS_API_KEY is required when AFTERSAIL_PAYMENTS_PROVIDER=stripe")
        return self

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'aftersail.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.base_url.startswith("https://")

    @property
    def worker_import_modules(self) -> list[str]:
        return [name.strip() for name in self.worker_imports.split(",") if name.strip()]

    def derived_secret(self, purpose: str) -> str:
        """A secret of its own for `purpose`, derived from the secret key (so a worker derives the same)."""
        key = self.secret_key.get_secret_value().encode()
        return hmac.new(key, purpose.encode(), hashlib.sha256).hexdigest()

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
