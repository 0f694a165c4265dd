"""Accounts, roles, server-side sessions, CSRF tokens and login rate limiting.

Sessions live in ``review_sessions`` keyed by the SHA-256 of the cookie value, so a copy of the
database holds no usable session, and logging out or disabling a user ends the session at once.
Each session carries its own CSRF token, sent back by forms (hidden field) and by the page's
JavaScript (``X-CSRF-Token`` header) on every state-changing request.

Login limits count the name as ``authenticate`` reads it (``normalise_name``: NFKC, trimmed), and a
login attempt reserves its place in the count before the password is checked, in one locked
transaction (``begin_login``), so concurrent attempts cannot all slip under the limit.

Role grants: an account an admin creates in the app stays inactive until a second admin approves
it (``approve_user``), so no admin can give themselves a reviewer's or supervisor's powers through
an account of their own. The command line (server access) creates accounts directly.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from evidence.store.schema import login_attempts, now_utc, sessions, users

Role = Literal["reviewer", "supervisor", "exporter", "admin"]
ROLES: tuple[Role, ...] = ("reviewer", "supervisor", "exporter", "admin")
LOGIN_LOCK_ID = 0x6570_6C67  # "eplg": PostgreSQL advisory lock for the login count


class Permission(str, Enum):
    """What a route needs. Roles are sets of permissions, not a ladder: the administrator manages
    accounts and reason codes but does not decide violations (separation of duties)."""

    ANY = "any"  # any signed-in user (log out, language)
    REVIEW = "review"  # queue, record page, first-review decisions, plate corrections
    SECOND_REVIEW = "second_review"  # confirm or overturn approvals of two-person rules
    STATS = "stats"  # dashboard, statistics CSV
    EXPORT = "export"  # build packages for the national platform (marks records exported, irreversibly)
    ADMIN = "admin"  # users, reason codes, audit log
    CHECKPOINT = "checkpoint"  # checkpoint mode: watchlist management, alerts, pass pictures


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "reviewer": frozenset({Permission.ANY, Permission.REVIEW}),
    "supervisor": frozenset({Permission.ANY, Permission.REVIEW, Permission.SECOND_REVIEW, Permission.STATS,
                             Permission.CHECKPOINT}),
    "exporter": frozenset({Permission.ANY, Permission.EXPORT}),
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
    created_by: str | None = None  # the admin who made the account in the app (None: command line)
    approved_by: str | None = None  # the second admin who approved it

    @property
    def pending(self) -> bool:
        """Made by an admin in the app and not approved by a second admin yet."""
        return self.created_by is not None and self.approved_by is None

    def can(self, permission: Permission) -> bool:
        return self.active and permission in ROLE_PERMISSIONS.get(self.role, frozenset())


def _user(row) -> User:  # noqa: ANN001 - a review_users row
    return User(row.id, row.name, row.role, row.active, row.created_by, row.approved_by)


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_name(name: str) -> str:
    """A user name as it is stored, looked up and counted: NFKC (full-width letters, odd spaces) and trimmed."""
    return unicodedata.normalize("NFKC", name).strip()


def _check_name(name: str) -> str:
    name = normalise_name(name)
    if not (2 <= len(name) <= 64) or any(c.isspace() for c in name):
        raise UserError("user name must be 2-64 characters without spaces")
    return name


def add_user(engine: Engine, name: str, password: str, role: str, created_by: str | None = None) -> User:
    """A new account. ``created_by`` (an admin in the app): inactive until another admin approves it."""
    name = _check_name(name)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters")
    active = created_by is None
    try:
        with engine.begin() as conn:
            uid = conn.execute(insert(users).values(name=name, password_hash=hash_password(password), role=role,
                                                    active=active, created_at=now_utc(),
                                                    created_by=created_by)).inserted_primary_key[0]
    except IntegrityError:
        raise UserError(f"user {name!r} exists") from None
    return User(int(uid), name, role, active, created_by)


def set_active(engine: Engine, user_id: int, active: bool) -> User:
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise UserError(f"no user with id {user_id}")
        if active and _user(row).pending:
            raise UserError(f"user {row.name} waits for a second admin's approval")
        conn.execute(update(users).where(users.c.id == user_id).values(active=active))
        if not active:
            conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    return User(row.id, row.name, row.role, active, row.created_by, row.approved_by)


def approve_user(engine: Engine, user_id: int, approver: str) -> User:
    """A second admin grants a pending account its role (activates it); never the admin who made it."""
    with engine.begin() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise UserError(f"no user with id {user_id}")
        if not _user(row).pending:
            raise UserError(f"user {row.name} is not waiting for approval")
        if row.created_by == approver:
            raise UserError(f"{approver} made the account {row.name}; another admin must approve it")
        conn.execute(update(users).where(users.c.id == user_id).values(active=True, approved_by=approver))
    return User(row.id, row.name, row.role, True, row.created_by, approver)


def get_user(engine: Engine, user_id: int) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(row) if row else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]


# A real hash of a random password: checking an unknown name costs the same as a known one,
# so response time does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(users).where(users.c.name == normalise_name(name))).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == row.id).values(password_hash=hash_password(password)))
    return _user(row)


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


def begin_login(engine: Engine, name: str, client: str, max_failures: int, window_s: int) -> int | None:
    """Reserve a login attempt for ``name`` (normalised) from ``client``, or None when either has
    failed ``max_failures`` times within the window. The attempt is counted as a failure from here
    on, in the same locked transaction as the count (PostgreSQL advisory lock; SQLite writes are
    IMMEDIATE), so concurrent attempts queue and at most ``max_failures`` passwords are tried;
    ``finish_login`` records a success."""
    name = normalise_name(name)[:64]
    now = now_utc()
    since = now - timedelta(seconds=window_s)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOGIN_LOCK_ID})
        recent = (login_attempts.c.at >= since, login_attempts.c.ok.is_(False))
        by_name = conn.execute(select(func.count()).select_from(login_attempts).where(*recent, login_attempts.c.name == name)).scalar_one()
        by_client = conn.execute(select(func.count()).select_from(login_attempts).where(*recent, login_attempts.c.client == client[:64])).scalar_one()
        if by_name >= max_failures or by_client >= max_failures:
            return None
        return int(conn.execute(insert(login_attempts).values(name=name, client=client[:64], at=now, ok=False)).inserted_primary_key[0])


def finish_login(engine: Engine, attempt: int, name: str, ok: bool, window_s: int) -> None:
    """Close an attempt from ``begin_login``: a success clears this name's failures (a user who finally
    typed it right is not locked out); old attempts are swept (a day kept for brute-force audits)."""
    now = now_utc()
    with engine.begin() as conn:
        if ok:
            conn.execute(update(login_attempts).where(login_attempts.c.id == attempt).values(ok=True))
            conn.execute(delete(login_attempts).where(login_attempts.c.name == normalise_name(name)[:64],
                                                      login_attempts.c.ok.is_(False)))
        conn.execute(delete(login_attempts).where(login_attempts.c.at < now - timedelta(seconds=max(window_s, 86400))))
