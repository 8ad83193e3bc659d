"""Secrets at rest: Fernet encryption with keys from config (MultiFernet, newest first)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_fernet: MultiFernet | None = None


class SecretUnreadable(RuntimeError):
    """A stored secret could not be decrypted with the configured keys."""


def configure_encryption(keys: str) -> None:
    global _fernet
    _fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


def _require() -> MultiFernet:
    if _fernet is None:
        raise RuntimeError("Encryption is not configured: create_app() sets it from FERNET_KEYS")
    return _fernet


def encrypt(plain: str) -> str:
    return _require().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _require().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable("A stored secret cannot be decrypted with FERNET_KEYS") from error
