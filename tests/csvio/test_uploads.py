"""Uploads kept on disk: whole, or not at all."""

from __future__ import annotations

import io
import os
import time

import pytest

from webapp.csvio.uploads import (
    ABANDONED_AFTER,
    CHUNK,
    UploadError,
    remove_abandoned_uploads,
    save_upload,
    stored_path,
    upload_dir,
)
from webapp.schedule import sweep


class DroppedConnection(io.RawIOBase):
    """A request body whose client goes away after a few chunks."""

    def __init__(self, chunks: int):
        self.left = chunks

    def read(self, size: int = -1) -> bytes:
        if self.left == 0:
            raise OSError("client went away")
        self.left -= 1
        return b"Seller SKU,Store SKU\n" * (CHUNK // 21)


def _kept() -> list[str]:
    folder = upload_dir()
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_an_upload_is_kept_whole_under_a_name_of_our_own(app_ctx):
    before = _kept()
    name, size = save_upload(io.BytesIO(b"Seller SKU,Store SKU\nA,B\n"), max_bytes=CHUNK)

    assert size == 25 and stored_path(name).read_bytes() == b"Seller SKU,Store SKU\nA,B\n"
    assert _kept() == sorted([*before, name])
    stored_path(name).unlink()


@pytest.mark.parametrize(
    ("stream", "refusal"),
    [
        (DroppedConnection(chunks=1), OSError),
        (io.BytesIO(b"x" * (3 * CHUNK)), UploadError),  # past the limit
        (io.BytesIO(b""), UploadError),
    ],
    ids=["connection-dropped", "too-large", "empty"],
)
def test_an_upload_cut_short_or_refused_leaves_nothing(app_ctx, stream, refusal):
    before = _kept()

    with pytest.raises(refusal):
        save_upload(stream, max_bytes=2 * CHUNK)

    assert _kept() == before


def test_the_schedules_sweep_removes_only_uploads_abandoned_half_way(app_ctx):
    folder = upload_dir()
    folder.mkdir(parents=True, exist_ok=True)
    abandoned, writing, kept = (folder / name for name in ("a.csv.part", "b.csv.part", "c.csv"))
    for path in (abandoned, writing, kept):
        path.write_bytes(b"Seller SKU,Store SKU\n")
    an_hour_and_more = time.time() - ABANDONED_AFTER.total_seconds() - 60
    os.utime(abandoned, (an_hour_and_more, an_hour_and_more))
    os.utime(kept, (an_hour_and_more, an_hour_and_more))  # a stored upload is never swept

    assert sweep()["abandoned_uploads"] == 1
    assert not abandoned.exists() and writing.exists() and kept.exists()
    assert remove_abandoned_uploads() == 0  # nothing left to do
    for path in (writing, kept):
        path.unlink()
