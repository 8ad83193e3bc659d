"""Hostile uploads: both upload forms (a mapping file, a store's catalog export) given file
names that try to leave the upload folder or break a page or the database, and contents that
are not what they claim. Nothing answers 500, no page reflects a script unescaped, and every
file kept is kept under a name of our own inside the upload folder."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask import url_for

from tests.builders import PASSWORD
from tests.security.conftest import VICTIM_EMAIL
from webapp.csvio.models import MappingImport
from webapp.csvio.uploads import upload_dir
from webapp.extensions import db

SCRIPT = "<script>alert(1)</script>"
NAMES = [
    "../../../../tmp/skubridge-escaped.csv",
    "..\\..\\..\\skubridge-escaped.csv",
    "/etc/passwd",
    "",
    " ",
    "x" * 5000 + ".csv",
    f"{SCRIPT}.csv",
    '"><img src=x onerror=alert(1)>.csv',
    "mappings\u202evsc.exe",  # right-to-left override: shows as mappings.exe.csv
    "ma\x00ppings.csv",
    "=HYPERLINK(1).csv",
    "😀" * 100 + ".csv",
    "CON.csv",
]
CONTENTS = {
    "a mapping file": b"Seller SKU,Store SKU\r\nTS-1,MG-1\r\n",
    "a Shopify export": b"Handle,Title,Variant SKU\r\nshirt,Shirt,SH-1\r\n",
    "formula cells": b'Seller SKU,Store SKU\r\n=cmd|" /C calc"!A0,@SUM(1)\r\n',
    "binary": bytes(range(256)) * 64,
    "nothing": b"",
}
OUR_NAME = re.compile(r"[0-9a-f]{32}\.csv")


@pytest.fixture
def uploader(app, victim, client):
    client.login(VICTIM_EMAIL, PASSWORD)
    client.refresh_csrf("/")
    return client


def _post(client, url: str, name: str, content: bytes, *, htmx: bool):
    return client.post_form(
        url,
        {"file": (io.BytesIO(content), name)},
        htmx=htmx,
        content_type="multipart/form-data",
        follow_redirects=not htmx,
    )


def test_no_upload_answers_500_escapes_its_folder_or_reflects_a_script(app, victim, uploader):
    with app.test_request_context():
        targets = [
            (url_for("mappings.upload"), False),
            (url_for("stores.upload_catalog", store_id=victim["store_id"]), True),
        ]
        folder = upload_dir()
        listing_url = url_for("mappings.index")
    escaped = Path("/tmp/skubridge-escaped.csv")
    escaped.unlink(missing_ok=True)
    tried = 0
    for url, htmx in targets:
        for name in NAMES:
            for what, content in CONTENTS.items():
                response = _post(uploader, url, name, content, htmx=htmx)
                tried += 1
                page = response.get_data(as_text=True)
                assert response.status_code < 500, (url, name, what, page[:300])
                assert SCRIPT not in page, (url, name, what)
    assert tried == 2 * len(NAMES) * len(CONTENTS)
    assert not escaped.exists()
    kept = list(folder.iterdir()) if folder.exists() else []
    assert all(OUR_NAME.fullmatch(path.name) and path.is_file() for path in kept), kept

    # The mapping files taken are listed under the name they came with, made harmless.
    imports = db.session.query(MappingImport).all()
    assert imports, "a well-formed mapping file is taken whatever its name"
    listing = uploader.get(listing_url).get_data(as_text=True)
    assert SCRIPT not in listing
    for mapping_import in imports:
        assert "\x00" not in mapping_import.filename
        assert len(mapping_import.filename) <= 255
