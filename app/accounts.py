"""Accounts: users, password hashing, browser sessions and personal API tokens.

Passwords are hashed with Argon2id through argon2-cffi (its default parameters, which follow
RFC 9106's low-memory profile); a hash made with older parameters is upgraded at the next
sign-in. Session cookies and API tokens are long random strings, so they are stored as plain
SHA-256 digests: a slow hash buys nothing against 256 bits of entropy, and a leaked table
still does not hand out live credentials.

While no user exists the app runs in **open mode** (everyone on the machine can use every
board, as before accounts existed). The first account is an admin made with
`takes create-user --admin`; it inherits every board made in open mode, and from then on
boards are members-only unless shared.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import anyio
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InputError, NotFound
from app.models import ApiToken, Board, Membership, User, UserSession, Voter, utcnow

SESSION_DAYS = 30
TOKEN_PREFIX = "takes_"
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")

_hasher = PasswordHasher()


def use_profile(name: str) -> None:
    """Hash new passwords with argon2-cffi's profile `name` (settings.argon2_profile). Existing
    hashes carry their own parameters, so they verify under any profile, and a hash made with
    other parameters is rehashed at the next sign-in (authenticate)."""
    global _hasher
    params = getattr(profiles, name)
    if _hasher.memory_cost != params.memory_cost or _hasher.time_cost != params.time_cost \
            or _hasher.parallelism != params.parallelism:
        _hasher = PasswordHasher.from_parameters(params)
        _dummy_hash.cache_clear()     # an unknown email must cost what a wrong password costs


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong email costs as long as a wrong
    password. Made on first use, not at import: an Argon2 hash takes ~0.1 s and 64 MiB, which
    every process importing this module (workers, the CLI) would otherwise pay at start-up."""
    return _hasher.hash(secrets.token_urlsafe(16))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_off_loop(password: str) -> str:
    """hash_password in a worker thread: Argon2 takes ~0.1 s of CPU and 64 MiB by design, and on
    the event loop it would stall every other request for that long (argon2-cffi releases the
    GIL while hashing)."""
    return await anyio.to_thread.run_sync(hash_password, password)


async def verify_off_loop(password_hash: str, password: str) -> bool:
    """verify_password in a worker thread (see hash_off_loop)."""
    return await anyio.to_thread.run_sync(verify_password, password_hash, password)


def password_problems(password: str) -> list[str]:
    if len(password or "") < MIN_PASSWORD:
        return [f"the password needs at least {MIN_PASSWORD} characters"]
    if len(password) > MAX_PASSWORD:
        return [f"the password is over {MAX_PASSWORD} characters"]
    return []


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not email:
        raise InputError("the email is empty")
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InputError(f"{email[:80]!r} is not an email address")
    return email


def clean_name(name: str | None, fallback: str = "") -> str:
    """A display name: one line, at most 80 characters (markup is escaped where shown)."""
    name = " ".join((name or "").split())
    if len(name) > 80:
        raise InputError("the name is over 80 characters")
    return name or fallback


_ANY_USER = select(User.__table__.c.id).limit(1)   # Core, built once: the guard asks in open mode on every request


async def any_user(s: AsyncSession) -> bool:
    return (await s.execute(_ANY_USER)).first() is not None


async def user_by_email(s: AsyncSession, email: str) -> User | None:
    return (await s.execute(select(User).where(User.email == email.strip().lower()))).scalar_one_or_none()


async def create_user(s: AsyncSession, email: str, password: str, *, display_name: str | None = None,
                      is_admin: bool = False, voter_id: str | None = None) -> User:
    """A new account with its own Voter row. `voter_id` adopts the anonymous voter of the
    browser signing up, so votes cast before signing up stay theirs.

    The first account must be an admin: it ends open mode and takes over the boards made in it
    (owner of each, and the default board becomes its "My comparisons")."""
    email = normalize_email(email)
    errors = password_problems(password)
    name = clean_name(display_name, email.split("@")[0])
    if errors:
        raise InputError(errors[0], errors)
    first = not await any_user(s)
    if first and not is_admin:
        raise InputError("the first account must be an admin: run `takes create-user --admin`")
    if await user_by_email(s, email):
        raise Conflict(f"an account for {email} exists already")
    voter = await s.get(Voter, voter_id) if voter_id else None
    if voter is not None and (await s.execute(select(User.id).where(User.voter_id == voter.id))).first():
        voter = None  # that browser's voter belongs to someone else already
    if voter is None:
        voter = Voter()
        s.add(voter)
    voter.display_name = name
    user = User(email=email, password_hash=await hash_off_loop(password), display_name=name, is_admin=is_admin)
    s.add(user)
    await s.flush()
    user.voter_id = voter.id
    if first:
        await _adopt_open_mode_boards(s, user)
    try:
        await s.commit()
    except IntegrityError:
        await s.rollback()
        raise Conflict(f"an account for {email} exists already") from None
    return user


async def _adopt_open_mode_boards(s: AsyncSession, admin: User) -> None:
    from app.boards import DEFAULT_SLUG

    boards = (await s.execute(select(Board))).scalars().all()
    for board in boards:
        s.add(Membership(board_id=board.id, user_id=admin.id, role="owner"))
        if board.slug == DEFAULT_SLUG and board.personal_user_id is None:
            board.personal_user_id = admin.id


async def authenticate(s: AsyncSession, email: str, password: str) -> User | None:
    user = await user_by_email(s, email or "")
    if user is None:
        await verify_off_loop(await anyio.to_thread.run_sync(_dummy_hash), password or "")
        return None
    if not await verify_off_loop(user.password_hash, password or ""):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_off_loop(password)
        await s.commit()
    return user


async def set_password(s: AsyncSession, user: User, new: str) -> None:
    errors = password_problems(new)
    if errors:
        raise InputError(errors[0], errors)
    user.password_hash = await hash_off_loop(new)
    user.password_changed_at = utcnow()


async def change_password(s: AsyncSession, user: User, old: str, new: str, keep_session: str | None) -> None:
    """Change the password and sign out every other browser (a stolen session dies with the
    old password). API tokens are separate credentials and stay valid."""
    if not await verify_off_loop(user.password_hash, old or ""):
        raise InputError("the current password is not right", status_code=400)
    if old == new:
        raise InputError("the new password is the same as the current one")
    await set_password(s, user, new)
    q = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_session:
        q = q.where(UserSession.id != digest(keep_session))
    await s.execute(q)
    await s.commit()


async def reset_password(s: AsyncSession, email: str, new: str) -> User:
    """An operator's reset (`takes set-password`): no old password, every session ends."""
    user = await user_by_email(s, email)
    if user is None:
        raise NotFound(f"no account for {email.strip().lower()}")
    await set_password(s, user, new)
    await s.execute(delete(UserSession).where(UserSession.user_id == user.id))
    await s.commit()
    return user


async def set_display_name(s: AsyncSession, user: User, name: str) -> None:
    user.display_name = clean_name(name, user.display_name)
    if user.voter_id:
        await s.execute(update(Voter).where(Voter.id == user.voter_id).values(display_name=user.display_name))
    await s.commit()


# ---- sessions ---------------------------------------------------------------------------------

async def start_session(s: AsyncSession, user: User, user_agent: str = "") -> str:
    """A new signed-in session; returns the cookie value (only its digest is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    s.add(UserSession(id=digest(token), user_id=user.id, created_at=now, last_seen_at=now,
                      expires_at=now + timedelta(days=SESSION_DAYS), user_agent=(user_agent or "")[:200]))
    await s.commit()
    return token


async def session_user(s: AsyncSession, token: str | None) -> User | None:
    if not token or len(token) > 100:
        return None
    row = await s.get(UserSession, digest(token))
    now = utcnow()
    if row is None:
        return None
    if row.expires_at <= now:
        await s.delete(row)
        await s.commit()
        return None
    user = await s.get(User, row.user_id)
    if user is not None and (now - row.last_seen_at) > timedelta(hours=1):
        row.last_seen_at = now  # coarse, so reads do not write on every request
        await s.commit()
    return user


async def end_session(s: AsyncSession, token: str | None) -> None:
    if token:
        await s.execute(delete(UserSession).where(UserSession.id == digest(token)))
        await s.commit()


# ---- API tokens -------------------------------------------------------------------------------

@dataclass
class NewToken:
    token: ApiToken
    secret: str  # shown once


async def create_token(s: AsyncSession, user: User, name: str) -> NewToken:
    name = clean_name(name)
    if not name:
        raise InputError("give the token a name (what script uses it)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=digest(secret), prefix=secret[:12])
    s.add(row)
    await s.commit()
    return NewToken(row, secret)


async def token_user(s: AsyncSession, secret: str) -> User | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    row = (await s.execute(select(ApiToken).where(ApiToken.token_hash == digest(secret)))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or (now - row.last_used_at) > timedelta(minutes=5):
        row.last_used_at = now
        await s.commit()
    return await s.get(User, row.user_id)


async def list_tokens(s: AsyncSession, user: User) -> list[ApiToken]:
    return list((await s.execute(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                 .order_by(ApiToken.created_at.desc()))).scalars().all())


async def revoke_token(s: AsyncSession, user: User, token_id: str) -> None:
    row = await s.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such token")
    row.revoked_at = row.revoked_at or utcnow()
    await s.commit()
