"""Column types shared by the models."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, Text, TypeDecorator

from webapp.security import decrypt, encrypt


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps none of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use webapp.extensions.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class EncryptedText(TypeDecorator[str]):
    """A string stored encrypted (Fernet); the database never holds the plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return encrypt(value) if value is not None else None

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return decrypt(value) if value is not None else None


class EncryptedJSON(TypeDecorator[dict]):
    """A JSON object stored encrypted (store credentials)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict | None, dialect: Any) -> str | None:
        return encrypt(json.dumps(value, sort_keys=True)) if value is not None else None

    def process_result_value(self, value: str | None, dialect: Any) -> dict | None:
        return json.loads(decrypt(value)) if value is not None else None


def str_enum(enum_class: type[enum.Enum], length: int = 20) -> Enum:
    """An enum column stored by value, as a plain string (no native enum type to migrate)."""
    return Enum(
        enum_class,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        validate_strings=True,
        length=length,
    )
