"""Schemathesis against the partner API's served OpenAPI schema, over real HTTP.

A live server serves the schema; Schemathesis generates requests for every operation from it;
each request is signed as a partner would sign it (``partners.signing``, over the exact bytes
sent) and must get an answer the schema documents: no server error, a documented status code,
the documented content type, and a body matching the documented schema. Half the examples
use a real linked member, hold and accrual instead of generated ids, so the operations run
past the lookup too.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loyalty import services
from partners import signing
from tests.loyalty.conftest import earn
from tests.partners.conftest import link_member

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 25


def test_the_served_schema_holds_for_generated_requests(
    live_server, partner, partner_client, member, settings_override
):
    earn(member, 100_000, timezone.now() - timedelta(days=1))
    link = link_member(partner, member)
    hold = services.partner_hold(partner=partner, link=link, amount=10, idempotency_key="seed")
    accrual = services.partner_accrue(partner=partner, link=link, amount=5, idempotency_key="s")
    real = {
        "member_id": link.public_id,
        "hold_id": hold.hold.pk,
        "accrual_id": accrual.award.pk,
        "request_id": 1,
    }
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/partner/v1/openapi.json")
    session = requests.Session()
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11

    try:
        for operation in operations:
            _fuzz(operation, session, statuses, real, live_server.url, partner_client)
    finally:
        session.close()  # a kept-alive connection would keep a server thread's database

    # Not only refusals: generated requests also got through to the ledger.
    assert statuses[200] and statuses[201], statuses
    assert not any(status >= 500 for status in statuses), statuses


def _fuzz(operation, session, statuses, real, base_url, partner_client) -> None:
    """Generated requests for one operation, signed over the exact bytes sent, validated."""

    @given(case=operation.as_strategy(), use_real=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case, use_real):
        if use_real and case.path_parameters:
            for name in case.path_parameters:
                case.path_parameters[name] = real[name]
        kwargs = case.as_transport_kwargs(base_url=base_url)
        prepared = requests.Request(
            method=kwargs["method"],
            url=kwargs["url"],
            headers=kwargs.get("headers"),
            params=kwargs.get("params"),
            json=kwargs.get("json"),
            data=kwargs.get("data"),
            cookies=kwargs.get("cookies"),
        ).prepare()
        url = urlsplit(prepared.url)
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        prepared.headers.update(
            signing.sign_headers(
                key_id=partner_client.key_id,
                secret=partner_client.secret,
                method=prepared.method,
                path=url.path,
                query=url.query,
                body=body,
            )  # fmt: skip
        )
        response = session.send(prepared, timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.fixture
def settings_override(settings):
    settings.PARTNER_API_RATE_LIMIT = 100_000
