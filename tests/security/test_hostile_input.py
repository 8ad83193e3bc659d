"""Hostile input everywhere: every route, with every parameter the dashboard reads set to one
hostile value at a time (empty, huge, wrong type, unicode confusables and controls, HTML and
script, SQL, spreadsheet formulas, path traversal), as a query string and as a form; the JSON
API's routes with the organization's token, as query strings, as JSON bodies and in the
marketplace SKU of the URL. Nothing answers 500, and no page reflects the script it was sent
unescaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import url_for
from flask_wtf import FlaskForm
from marshmallow import Schema

from tests.builders import PASSWORD
from tests.security.conftest import VICTIM_EMAIL
from webapp.api import schemas as api_schemas
from webapp.api.views import bp as api
from webapp.tenancy import PUBLIC_ENDPOINTS

SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    "",
    " ",
    "x" * 20_000,
    "-1",
    "0",
    "1e309",
    "NaN",
    "9" * 40,
    str(2**31),  # one past what an id, version or quantity column holds on PostgreSQL
    "²",  # a digit to str.isdigit(), not to int()
    "3.5",
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "' OR 1=1 --",
    "'; DROP TABLE links; --",
    '=HYPERLINK("http://evil.example")',
    "../../../../etc/passwd",
    "ＴＳ－００４１",  # full-width lookalikes
    "TS\u200b-0041\u202e",  # zero-width space, right-to-left override
    "\x00\x01\x1f",
    "😀" * 50,
    "{{7*7}}",
]
HTTP_MODULES = Path(__file__).parents[2] / "webapp"
# Routes a walk must not take: logging out ends the walk's session.
SKIPPED = {"auth.logout", "static"}


def parameter_names() -> set[str]:
    """Every name the HTTP layer might read: each string literal of the view modules (extra
    names are ignored by the routes) and every field of every form class."""
    names = set()
    for module in HTTP_MODULES.rglob("*.py"):
        source = module.read_text()
        if "sandbox" not in module.parts and re.search(r"request\.(args|form|values)", source):
            names |= set(re.findall(r'"([a-z][a-z_]{0,30})"', source))
    for form in FlaskForm.__subclasses__():
        names |= {name for name, value in vars(form).items() if hasattr(value, "field_class")}
    for schema in vars(api_schemas).values():  # what the JSON API reads
        if isinstance(schema, type) and issubclass(schema, Schema):
            names |= set(schema().fields)
    return names


@pytest.fixture
def walker(app, victim, client):
    client.login(VICTIM_EMAIL, PASSWORD)
    client.refresh_csrf("/")
    return client


def test_no_route_answers_500_or_reflects_a_script(app, victim, walker):
    names = parameter_names()
    assert {"q", "status", "after", "store_sku_id", "quantity", "version", "email"} <= names
    assert {"store_sku", "kit_parts", "limit", "state"} <= names
    tried = 0
    # The JSON API's routes first: walking the API tokens page revokes the token they use.
    rules = sorted(
        app.url_map.iter_rules(), key=lambda r: not r.endpoint.startswith(f"{api.name}.")
    )
    for rule in rules:
        if rule.endpoint in SKIPPED or rule.endpoint in PUBLIC_ENDPOINTS - {"auth.login"}:
            continue
        if rule.endpoint.startswith(f"{api.name}."):
            tried += _walk_api_route(app, rule, victim, walker, names)
            continue
        with app.test_request_context():
            url = url_for(rule.endpoint, **{name: victim[name] for name in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for value in HOSTILE:
                values = dict.fromkeys(names, value)
                if method == "GET":
                    response = walker.get(url, query_string=values, headers={"HX-Request": "true"})
                else:
                    values["csrf_token"] = walker.csrf_token
                    response = walker.open(url, method=method, data=values)
                tried += 1
                assert response.status_code < 500, (method, url, value[:40], response.status_code)
                assert SCRIPT not in response.get_data(as_text=True), (method, url)
            if rule.endpoint == "auth.login":
                walker.login(VICTIM_EMAIL, PASSWORD)  # the walk logged in or out again
                walker.refresh_csrf("/")
    assert tried > 40 * len(HOSTILE), "the walk found fewer routes than there are"


def _walk_api_route(app, rule, victim, client, names: set[str]) -> int:
    """One JSON API route with the organization's token: each hostile value in every
    parameter (query string, JSON body), and in the marketplace SKU of the URL."""
    headers = {"Authorization": f"Bearer {victim['api_token']}"}
    tried = 0
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
        for value in HOSTILE:
            arguments = {name: victim[name] for name in rule.arguments}
            with app.test_request_context():
                url = url_for(rule.endpoint, **arguments)
                hostile_url = (
                    url_for(rule.endpoint, **{**arguments, "marketplace_sku": value})
                    if "marketplace_sku" in arguments and value.strip()
                    else None
                )
            values = dict.fromkeys(names, value)
            requests = [{"query_string": values}]
            if method == "PUT":
                requests += [{"json": values}, {"json": {**values, "kit_parts": [values]}}]
            for kwargs in requests:
                for target in filter(None, (url, hostile_url)):
                    response = client.open(target, method=method, headers=headers, **kwargs)
                    tried += 1
                    assert response.status_code < 500, (method, target, value[:40])
                    assert response.status_code != 401, "the walk lost its token"
                    assert SCRIPT not in response.get_data(as_text=True), (method, target)
    return tried
