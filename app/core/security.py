"""Password hashing, API key material, and the security middleware set-up."""

import base64
import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.core.settings import auth_settings, secret_key

API_KEY_PREFIX = "sx_"
SESSION_COOKIE = "sextant_session"
CSRF_COOKIE = "sextant_csrf"
CSRF_HEADER = "x-csrf-token"
PASSWORD_RESET_MAX_AGE_S = 24 * 3600


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


def api_key_token(authorization: str) -> str | None:
    """The API key of an `Authorization` header value, if it carries one: `Bearer <key>`,
    or `Basic base64(<anything>:<key>)` as the Langfuse SDK sends (public key : secret key,
    the secret key being the project's API key)."""
    scheme, _, token = authorization.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme == "basic" and token:
        try:
            token = base64.b64decode(token, validate=True).decode().partition(":")[2].strip()
        except (ValueError, UnicodeDecodeError):
            return None
    return token if scheme in ("bearer", "basic") and token else None


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt="sextant-password-reset")


def password_reset_token(user_id: int, session_version: int) -> str:
    """A signed link token; it names the user's session version, which a reset bumps,
    so the link works once (and dies with any other end of the user's sessions)."""
    return _reset_serializer().dumps([user_id, session_version])


def read_password_reset_token(token: str) -> tuple[int, int] | None:
    try:
        user_id, version = _reset_serializer().loads(token, max_age=PASSWORD_RESET_MAX_AGE_S)
    except (BadSignature, ValueError, TypeError):
        return None
    return (user_id, version) if isinstance(user_id, int) and isinstance(version, int) else None
