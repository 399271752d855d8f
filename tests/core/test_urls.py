"""Community pages are found before the URL resolver walks every route, and no route under
``community/`` is ever answered by the page tree instead of its own view."""

from __future__ import annotations

import re

import pytest
from django.urls import resolve

from config import urls

SAMPLES = {
    "int": "7",
    "str": "x",
    "slug": "x",
    "path": "x/y",
    "uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
}


def sample_path(route: str) -> str:
    """A concrete path a ``path()`` route (or a simple regex) accepts."""
    path = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), route)
    return "/" + re.sub(r"\(\?P<\w+>[^)]*\)", "x", path).replace(".+", "x")


def test_the_community_home_and_its_items_take_the_fast_path():
    assert resolve("/community/").url_name == "community_page"
    assert resolve("/community/milan-trip/").url_name == "community_page"
    assert resolve("/community/a/b/").url_name == "wagtail_serve"  # deeper pages: the tree


@pytest.mark.parametrize(
    "route",
    [text for text in urls._route_texts(urls.urlpatterns[1:]) if text.startswith("community/")],
)
def test_every_route_under_community_keeps_its_own_view(route):
    match = resolve(sample_path(route))
    assert match.url_name not in ("community_page", "wagtail_serve"), route
