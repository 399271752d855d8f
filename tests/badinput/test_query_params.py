"""Query parameters of the JSON APIs, search and paginated pages: never a 5xx, JSON stays JSON.

Nonsense is read as "no filter" or "first page"; only a NUL character is refused (400, with the
reason; see ``core.middleware.RejectNullCharactersMiddleware``).
"""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import given

from tests.badinput.checks import NUL_REFUSED, page_answered
from tests.badinput.conftest import FIELD_VALUE, FUZZ, NASTY_TEXT, form_data

pytestmark = pytest.mark.django_db


def answered(response, key: str) -> dict:
    """A JSON answer with ``key``; or, refused for a NUL, the reason (as JSON or a page)."""
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert NUL_REFUSED in response.content.decode()
        return {}
    data = response.json()
    assert key in data
    return data


@FUZZ
@given(page=FIELD_VALUE, after=FIELD_VALUE, extra=NASTY_TEXT)
def test_json_endpoints(club, page, after, extra):
    for client in (Client(), club.client()):
        data = answered(client.get("/api/items/", {**form_data(page=page), extra: extra}), "items")
        if "items" in data:
            assert isinstance(data["items"], list) and data["page"] >= 1
    answered(club.client().get("/notifications/api/", form_data(after=after)), "unread")


@FUZZ
@given(query=FIELD_VALUE, page=FIELD_VALUE)
def test_search_and_paginated_pages(club, query, page):
    for client in (Client(), club.client()):
        page_answered(client.get("/search/", form_data(q=query)))
    client = club.client()
    page_answered(client.get("/notifications/", form_data(page=page)))
    page_answered(client.get(club.post.url, form_data(comments=page)))
    page_answered(client.get("/community/my/offers/", form_data(page=page)))
