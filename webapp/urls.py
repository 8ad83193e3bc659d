"""URLs: redirect targets taken from a request are followed only within this site, ids read
from a request are ones a row could have, and a page of rows gets its rows' URLs without
building each one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import url_for

from webapp.dbutil import MAX_ID

PAGE_LINK_NOT_VALID = "That page link was not valid; showing the first page."

# Stands for the id in the one URL url_for_each builds: a number no row has.
_ID_MARK = 918_273_645_546_372_819


def safe_next(target: str | None, default: str) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme and "\\" not in target:
            return target
    return default


def url_for_each(endpoint: str, id_name: str, **values: Any) -> Callable[[int], str]:
    """`url_for(endpoint, **{id_name: id}, **values)` as a function of the id, for the cost of
    one url_for. A grid page asks for two URLs on each of its 50 rows, and url_for costs more
    than the rest of a row's rendering; the URL's shape still comes from the route."""
    head, tail = url_for(endpoint, **{id_name: _ID_MARK}, **values).split(str(_ID_MARK))
    return lambda object_id: f"{head}{int(object_id)}{tail}"


def id_from(text: str | None) -> int | None:
    """An id read from a request: a positive whole number a row could have, else None."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
