"""Accounts, roles, server-side sessions, CSRF tokens and login rate limiting.

Sessions live in ``review_sessions`` keyed by the SHA-256 of the cookie value, so a copy of the
database holds no usable session, and logging out or disabling a user ends the session at once.
Each session carries its own CSRF token, sent back by forms (hidden field) and by the page's
JavaScript (``X-CSRF-Token`` header) on every state-changing request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from evidence.store.schema import login_attempts, now_utc, sessions, users

Role = Literal["reviewer", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("reviewer", "supervisor", "admin")


class Permission(str, Enum):
    """What a route needs. Roles are sets of permissions, not a ladder: the administrator manages
    accounts and reason codes but does not decide violations (separation of duties)."""

    ANY = "any"  # any signed-in user (log out, language)
    REVIEW = "review"  # queue, record page, first-review decisions, plate corrections
    SECOND_REVIEW = "second_review"  # confirm or overturn approvals of two-person rules
    STATS = "stats"  # dashboard, statistics CSV
    EXPORT = "export"  # build packages for the national platform
    ADMIN = "admin"  # users, reason codes, audit log
    CHECKPOINT = "checkpoint"  # checkpoint mode: watchlist management, alerts, pass pictures


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "reviewer": frozenset({Permission.ANY, Permission.REVIEW, Permission.EXPORT}),
    "supervisor": frozenset({Permission.ANY, Permission.REVIEW, Permission.SECOND_REVIEW, Permission.STATS,
                             Permission.EXPORT, Permission.CHECKPOINT}),
    "admin": frozenset({Permission.ANY, Permission.ADMIN, Permission.STATS, Permission.CHECKPOINT}),
}

# Parameters per RFC 9106's second recommended option, as argon2-cffi's defaults.
_hasher = PasswordHasher()
MIN_PASSWORD = 10


class UserError(ValueError):
    """A user could not be created or changed (message says why)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    active: bool

    def can(self, permission: Permission) -> bool:
        return self.active and permission in ROLE_PERMISSIONS.get(self.role, frozenset())


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_name(name: str) -> str:
    name = name.strip()
    if not (2 <= len(name) <= 64) or any(c.isspace() for c in name):
        raise UserError("user name must be 2-64 characters without spaces")
    return name


def add_user(engine: Engine, name: str, password: str, role: str) -> User:
    name = _check_name(name)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    try:
        with engine.begin() as conn:
            uid = conn.execute(insert(users).values(name=name, password_hash=hash_password(password), role=role,
                                                    active=True, created_at=now_utc())).inserted_primary_key[0]
    except IntegrityError:
        raise UserError(f"user {name!r} exists") from None
    return User(int(uid), name, role, True)


def set_active(engine: Engine, user_id: int, active: bool) -> User:
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise UserError(f"no user with id {user_id}")
        conn.execute(update(users).where(users.c.id == user_id).values(active=active))
        if not active:
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    return User(row.id, row.name, row.role, active)


def get_user(engine: Engine, user_id: int) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return User(row.id, row.name, row.role, row.active) if row else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [User(r.id, r.name, r.role, r.active) for r in conn.execute(select(users).order_by(users.c.name))]


# A real hash of a random password: checking an unknown name costs the same as a known one,
# so response time does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == name.strip())).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(password_hash=hash_password(password)))
    return User(row.id, row.name, row.role, row.active)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def new_session(engine: Engine, user: User, hours: float) -> tuple[str, Session]:
    """Returns the cookie value (only ever held by the browser) and the session."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = now_utc()
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires_at < now))  # sweep expired ones
        conn.execute(insert(sessions).values(token_hash=_token_hash(token), user_id=user.id, csrf=csrf,
                                             created_at=now, expires_at=now + timedelta(hours=hours)))
    return token, Session(user, csrf)


def load_session(engine: Engine, token: str | None, hours: float) -> Session | None:
    """The live session for a cookie value, sliding its expiry; None if absent, expired or disabled."""
    if not token or len(token) > 128:
        return None
    now = now_utc()
    th = _token_hash(token)
    with engine.begin() as conn:
        row = conn.execute(
            select(sessions.c.csrf, sessions.c.expires_at, users.c.id, users.c.name, users.c.role, users.c.active)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.token_hash == th)
        ).first()
        if row is None or row.expires_at < now or not row.active:
            return None
        conn.execute(update(sessions).where(sessions.c.token_hash == th).values(expires_at=now + timedelta(hours=hours)))
    return Session(User(row.id, row.name, row.role, row.active), row.csrf)


def end_session(engine: Engine, token: str | None) -> None:
    if token:
        with engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == _token_hash(token)))


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def login_blocked(engine: Engine, name: str, client: str, max_failures: int, window_s: int) -> bool:
    """True when this name or this client has failed ``max_failures`` times within the window."""
    since = now_utc() - timedelta(seconds=window_s)
    with engine.connect() as conn:
        by_name = conn.execute(select(func.count()).select_from(login_attempts).where(
            and_(login_attempts.c.at >= since, login_attempts.c.ok.is_(False), login_attempts.c.name == name))).scalar_one()
        by_client = conn.execute(select(func.count()).select_from(login_attempts).where(
            and_(login_attempts.c.at >= since, login_attempts.c.ok.is_(False), login_attempts.c.client == client))).scalar_one()
    return by_name >= max_failures or by_client >= max_failures


def record_login(engine: Engine, name: str, client: str, ok: bool, window_s: int) -> None:
    now = now_utc()
    with engine.begin() as conn:
        conn.execute(insert(login_attempts).values(name=name[:64], client=client[:64], at=now, ok=ok))
        # Old attempts only matter within the window; keep a day for the audit of brute-force tries.
        conn.execute(delete(login_attempts).where(login_attempts.c.at < now - timedelta(seconds=max(window_s, 86400))))
        if ok:  # a success clears this name's failures so a user who finally typed it right is not locked out
            conn.execute(delete(login_attempts).where(login_attempts.c.name == name, login_attempts.c.ok.is_(False)))
