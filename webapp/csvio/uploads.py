"""Uploaded files, kept under the instance folder with names of our own: never the user's file
name in a path."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from webapp.domain import DomainError

CHUNK = 1 << 20
PARTIAL_SUFFIX = ".part"
# An upload still being written is touched at every chunk; one untouched this long was left by
# a web process that stopped half way.
ABANDONED_AFTER = timedelta(hours=1)


class UploadError(DomainError):
    pass


def upload_dir() -> Path:
    return Path(current_app.instance_path) / "uploads"


def stored_path(stored_name: str) -> Path:
    return upload_dir() / stored_name


def save_upload(stream: BinaryIO, *, max_bytes: int) -> tuple[str, int]:
    """Copy an upload to disk in chunks; returns its stored name and size. The copy is made
    under a name of its own and renamed once whole, so a process stopped half way never
    leaves a cut-off file under a stored name."""
    directory = upload_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stored_name = f"{secrets.token_hex(16)}.csv"
    partial = directory / f"{stored_name}{PARTIAL_SUFFIX}"
    size = 0
    try:
        with partial.open("wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(
                        f"The file is larger than {max_bytes // CHUNK} MB; split it into "
                        "smaller files."
                    )
                out.write(chunk)
        if size == 0:
            raise UploadError("The file is empty.")
        partial.replace(directory / stored_name)
    finally:
        partial.unlink(missing_ok=True)
    return stored_name, size


def remove_abandoned_uploads(now: float | None = None) -> int:
    """Delete the partial copies that web processes stopped half way left behind (never read,
    they only take space); returns how many."""
    directory = upload_dir()
    if not directory.exists():
        return 0
    cutoff = (now or time.time()) - ABANDONED_AFTER.total_seconds()
    removed = 0
    for partial in directory.glob(f"*{PARTIAL_SUFFIX}"):
        try:
            if partial.stat().st_mtime < cutoff:
                partial.unlink()
                removed += 1
        except FileNotFoundError:  # another sweep got there first
            continue
    return removed
