"""Use cases of the tenants domain. Services flush; the caller's transaction commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersail.kit.clock import utcnow
from aftersail.kit.config import CONSOLE_LOCALES
from aftersail.kit.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from aftersail.kit.security import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    new_token,
    sha256_hex,
    verify_password,
)
from aftersail.tenants.models import ApiKey, ConsoleSession, Role, Team, TeamMember, Tenant, User

API_KEY_PREFIX = "ask"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a console user or an API key, always inside one tenant."""

    tenant_id: int
    role: Role
    user_id: int | None = None
    api_key_id: int | None = None
    name: str = ""
    locale: str = "en"

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"api_key:{self.api_key_id}"


async def do_create_tenant(
    session: AsyncSession, *, slug: str, name: str, default_locale: str = "en", time_zone: str = "UTC"
) -> Tenant:
    if not _SLUG.match(slug):
        raise InvalidInput("slug: lowercase letters, digits and dashes, 2–63 characters", field="slug")
    if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"a tenant with slug {slug!r} already exists", field="slug")
    tenant = Tenant(slug=slug, name=name, default_locale=default_locale, time_zone=time_zone, settings={})
    session.add(tenant)
    await session.flush()
    return tenant


async def do_create_user(
    session: AsyncSession,
    *,
    tenant_id: int,
    email: str,
    name: str,
    password: str,
    role: Role,
    locale: str = "zh",
    time_zone: str = "Asia/Shanghai",
    languages: list[str] | None = None,
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("email: not an email address", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists", field="email")
    user = User(
        tenant_id=tenant_id,
        email=email,
        name=name,
        password_hash=hash_password(password),
        role=role,
        locale=locale,
        time_zone=time_zone,
        languages=languages or [],
    )
    session.add(user)
    await session.flush()
    return user


async def do_set_user_locale(session: AsyncSession, *, user: User, locale: str) -> User:
    """Stores the console language a user picked (one of kit.config.CONSOLE_LOCALES)."""
    if locale not in CONSOLE_LOCALES:
        raise InvalidInput(f"lang: one of {', '.join(CONSOLE_LOCALES)}", field="lang")
    user.locale = locale
    await session.flush()
    return user


async def do_create_team(
    session: AsyncSession, *, tenant_id: int, name: str, languages: list[str], member_ids: list[int]
) -> Team:
    if member_ids:
        found = set(
            await session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(member_ids)))
        )
        missing = sorted(set(member_ids) - found)
        if missing:
            raise InvalidInput(f"member_ids: no user {missing[0]} in this tenant", field="member_ids")
    if (
        await session.scalar(select(Team.id).where(Team.tenant_id == tenant_id, Team.name == name))
        is not None
    ):
        raise Conflict(f"a team named {name!r} already exists", field="name")
    team = Team(tenant_id=tenant_id, name=name, languages=languages)
    session.add(team)
    await session.flush()
    for user_id in member_ids:
        session.add(TeamMember(tenant_id=tenant_id, team_id=team.id, user_id=user_id))
    await session.flush()
    return team


async def list_teams(session: AsyncSession, tenant_id: int) -> list[tuple[Team, list[int]]]:
    """Every team with its members' user ids."""
    teams = list(await session.scalars(select(Team).where(Team.tenant_id == tenant_id).order_by(Team.id)))
    members: dict[int, list[int]] = {team.id: [] for team in teams}
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.user_id).where(TeamMember.tenant_id == tenant_id)
    )
    for team_id, user_id in rows:
        members.setdefault(team_id, []).append(user_id)
    return [(team, sorted(members[team.id])) for team in teams]


async def check_login(session: AsyncSession, *, email: str, password: str) -> User:
    """Looks the user up across tenants (the caller runs this as a system transaction)."""
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        raise Unauthenticated("Wrong email or password.")
    user.last_login_at = utcnow()
    return user


async def do_start_session(
    session: AsyncSession, *, user: User, max_age: timedelta, user_agent: str = ""
) -> tuple[str, ConsoleSession]:
    token = new_token()
    now = utcnow()
    console_session = ConsoleSession(
        tenant_id=user.tenant_id,
        user_id=user.id,
        token_hash=sha256_hex(token),
        csrf_token=new_token(24),
        created_at=now,
        expires_at=now + max_age,
        user_agent=user_agent[:300],
    )
    session.add(console_session)
    await session.flush()
    return token, console_session


async def access_session(session: AsyncSession, token: str) -> tuple[ConsoleSession, User]:
    row = await session.execute(
        select(ConsoleSession, User)
        .join(User, User.id == ConsoleSession.user_id)
        .where(ConsoleSession.token_hash == sha256_hex(token))
    )
    found = row.first()
    if found is None:
        raise Unauthenticated("Please sign in.")
    console_session, user = found
    if console_session.expires_at <= utcnow() or not user.is_active:
        raise Unauthenticated("Your session has ended; please sign in again.")
    return console_session, user


async def do_end_session(session: AsyncSession, token: str) -> None:
    found = await session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == sha256_hex(token)))
    if found is not None:
        await session.delete(found)


async def do_create_api_key(
    session: AsyncSession, *, tenant_id: int, name: str, role: Role, created_by_id: int | None = None
) -> tuple[str, ApiKey]:
    """Returns the full key (shown once) and the stored row (prefix and hash only)."""
    prefix = f"{API_KEY_PREFIX}_{new_token(6)}".replace("-", "x")
    secret = new_token(32)
    key = ApiKey(
        tenant_id=tenant_id,
        name=name,
        role=role,
        prefix=prefix,
        secret_hash=sha256_hex(secret),
        created_by_id=created_by_id,
    )
    session.add(key)
    await session.flush()
    return f"{prefix}.{secret}", key


async def access_api_key(session: AsyncSession, presented: str, *, touch: bool = True) -> ApiKey:
    """The live key behind `presented`. With `touch`, `last_used_at` moves (at most once a minute); a
    read-only caller passes `touch=False` and calls `do_touch_api_key` in a transaction of its own."""
    prefix, _, secret = presented.partition(".")
    if not secret:
        raise Unauthenticated("Malformed API key.")
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None or key.secret_hash != sha256_hex(secret):
        raise Unauthenticated("Unknown or revoked API key.")
    if touch and api_key_needs_touch(key):
        key.last_used_at = utcnow()
    return key


def api_key_needs_touch(key: ApiKey) -> bool:
    return key.last_used_at is None or utcnow() - key.last_used_at > timedelta(minutes=1)


async def do_touch_api_key(session: AsyncSession, api_key_id: int) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == api_key_id)
        .values(last_used_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def list_api_keys(session: AsyncSession, tenant_id: int) -> list[ApiKey]:
    """Every key of the tenant, revoked ones included, newest first."""
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id.desc())
    )
    return list(rows.all())


async def do_revoke_api_key(session: AsyncSession, *, tenant_id: int, api_key_id: int) -> ApiKey:
    key = await session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == api_key_id))
    if key is None:
        raise NotFound("API key not found")
    key.revoked_at = utcnow()
    return key


async def access_tenant(session: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


# --- settings: web-shop webhooks ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopifySettings:
    """Where `tenant.settings["shopify"]` keeps what checks Shopify webhooks. The secret must be kept as is
    (an HMAC needs it), so it is never returned after it is set: answers show its last characters only."""

    webhook_secret: str
    shop_domain: str | None = None

    @property
    def secret_hint(self) -> str:
        return "…" + self.webhook_secret[-4:]


def shopify_settings(tenant: Tenant) -> ShopifySettings | None:
    section = (tenant.settings or {}).get("shopify") or {}
    secret = section.get("webhook_secret") if isinstance(section, dict) else None
    if not isinstance(secret, str) or not secret:
        return None
    domain = section.get("shop_domain")
    return ShopifySettings(secret, domain if isinstance(domain, str) and domain else None)


async def do_set_shopify_settings(
    session: AsyncSession, tenant_id: int, *, webhook_secret: str, shop_domain: str | None = None
) -> ShopifySettings:
    tenant = await access_tenant(session, tenant_id)
    section = {"webhook_secret": webhook_secret, "shop_domain": shop_domain.lower() if shop_domain else None}
    tenant.settings = {
        **(tenant.settings or {}),
        "shopify": section,
    }  # a new dict: JSON columns track by value
    await session.flush()
    return ShopifySettings(webhook_secret, section["shop_domain"])


async def find_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


async def list_users(session: AsyncSession, tenant_id: int) -> list[User]:
    """Every user of the tenant (active or not: reports still name who handled old tickets), by name."""
    return list(
        await session.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.name, User.id))
    )
