"""The served OpenAPI document against the API itself: schemathesis generates requests for
every operation from the document, valid and invalid, with the shop's token and its real SKUs
mixed in, and checks each answer: no 5xx, a documented status, the documented content type,
headers and body schema. Seeded (derandomized), so every run tries the same requests."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import bearer
from webapp.extensions import db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 60


def test_the_openapi_document_describes_every_api_route(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = {
        (rule.rule.replace("<int:", "{").replace("<path:", "{").replace(">", "}"), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == served
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token of the organization, made on the API tokens page",
    }
    assert document["security"] == [{"bearerAuth": []}]


@pytest.fixture
def real_values(shop, picks):
    """What generated requests are steered to most of the time: the shop's account, its
    marketplace SKUs (by seller SKU and by SKU ID) and its store SKUs of every kind."""
    _, _, account = shop
    keys = [link.marketplace_sku.sku_id for link in picks.links]
    keys += [link.marketplace_sku.seller_sku for link in picks.links]
    store_skus = [variant.sku for variant in picks.variants]
    store_skus += [picks.parent.sku, picks.shared_store_sku]
    return account.id, keys, store_skus


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(app, token, real_values):
    account_id, keys, store_skus = real_values
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.auth()(_bearer_auth(token))
    statuses: Counter[tuple[str, int]] = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
            _explore(operation, mode, checks, token, account_id, keys, store_skus, statuses)

    print_statuses(statuses)
    link_url = "/api/v1/accounts/{account_id}/links/{marketplace_sku}"
    for label in (
        "GET /api/v1/accounts",
        "GET /api/v1/accounts/{account_id}/links",
        *(f"{method} {link_url}" for method in ("GET", "PUT", "DELETE")),
    ):
        assert statuses[(label, 200)] >= 10, (label, "too few requests reached real data")
    assert statuses[(f"PUT {link_url}", 422)] >= 5 and statuses[(f"PUT {link_url}", 409)] >= 1


def _explore(operation, mode, checks, token, account_id, keys, store_skus, statuses) -> None:
    @given(
        case=operation.as_strategy(generation_mode=mode, auth_storage=operation.schema.auth),
        steer=st.fixed_dictionaries(
            {
                "account": st.sampled_from([True, True, True, False]),
                "key": st.sampled_from([*keys, None]),
                "store_sku": st.sampled_from([*store_skus, None]),
                "drop_version": st.booleans(),
            }
        ),
    )
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def explore(case, steer):
        vars(g).clear()  # each request in its own globals, as in a server
        db.session.rollback()
        _steer(case, steer, account_id)
        response = case.call()
        statuses[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=checks)

    explore()


def _bearer_auth(token: str) -> type:
    """The shop's token on every request, as schemathesis's auth: cases generated without
    valid credentials (negative ones) go without it."""

    class BearerToken:
        def get(self, case, context):
            return token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), **bearer(data)}

    return BearerToken


def _steer(case, steer: dict, account_id: int) -> None:
    """Point a generated request at real data: the shop's account, a real SKU, a store SKU of
    the catalog without generated kit parts, no version (so that a change can go through)."""
    if case.meta.generation.mode is GenerationMode.NEGATIVE:
        return
    parameters = case.path_parameters or {}
    if "account_id" in parameters and steer["account"]:
        parameters["account_id"] = account_id
    if "marketplace_sku" in parameters and steer["key"] is not None:
        parameters["marketplace_sku"] = steer["key"]
    if isinstance(case.body, dict):
        if steer["store_sku"] is not None:
            case.body["store_sku"] = steer["store_sku"]
            case.body.pop("kit_parts", None)
        if steer["drop_version"]:
            case.body.pop("version", None)
    if isinstance(case.query, dict) and steer["drop_version"]:
        case.query.pop("version", None)


def print_statuses(statuses: Counter) -> None:
    """The figures tests/README.md quotes (`pytest -s` shows them)."""
    print(f"\nschemathesis: {sum(statuses.values())} requests")
    for (label, status), count in sorted(statuses.items()):
        print(f"  {label} -> {status}: {count}")
