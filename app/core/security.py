"""Password hashing, API key material, and the security middleware set-up."""

import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.settings import auth_settings

API_KEY_PREFIX = "sx_"
SESSION_COOKIE = "sextant_session"
CSRF_COOKIE = "sextant_csrf"
CSRF_HEADER = "x-csrf-token"



@lru_cache
def _hasher() -> PasswordHasher:
    settings = auth_settings()
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


@lru_cache
def _dummy_hash() -> str:
    # Verified when the e-mail is unknown, so a login takes as long either way.
    return _hasher().hash("sextant-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_display_prefix(key: str) -> str:
    return key[:10]
