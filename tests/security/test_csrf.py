"""No endpoint changes state on a forged cross-site POST.

The routes are not listed by hand: ``urlwalk`` enumerates every route of ``config.urls`` (with
the admin screens our apps register), so an endpoint added tomorrow is covered without editing
this file. Each one receives a POST that carries the CSRF cookie (as a victim's browser would)
but no token, from a signed-in member for the site and a signed-in staff member for the admin.
The answer must be 403 from Django's CSRF check; GET-only views answer the same way, because
the check runs before any view.
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from loyalty.models import PointsEntry, Redemption
from tests.security.urlwalk import endpoints

pytestmark = pytest.mark.django_db

# Routes allowed to accept a POST without a CSRF token, each with the reason. Empty on purpose:
# every state change on this site is made from one of our own forms or scripts, which carry the
# token. Add an entry only for an endpoint that is called cross-site by design (a webhook, say)
# and authenticates its caller some other way.
CSRF_EXEMPT_ALLOWED: dict[str, str] = {}
# Whole route prefixes exempt for the same reason.
CSRF_EXEMPT_PREFIXES: dict[str, str] = {
    "api/partner/v1/": "the partner API is called by partners' servers, never by a browser; "
    "every request is HMAC-signed with the partner's key and carries no cookie that grants "
    "anything (partners/api.py, tests/partners)",
}

# Endpoints the walk must find; proves the walk itself still reaches into every area.
MUST_BE_WALKED = {
    "loyalty:redeem", "loyalty:checkin", "community:offer_claim", "community:activity_register",
    "community:checkin_scanner", "community:interaction:comment_create",
    "community:interaction:comment_edit", "community:interaction:comment_report",
    "members:join_apply", "members:leave", "notifications:preferences", "set_language",
    "account_login", "account_logout", "weibo_login", "members_admin:member_suspend",
    "members_admin:application_decide", "loyalty_admin:adjust", "loyalty_admin:reverse",
    "interaction_admin:decide", "participation_admin:checkin", "club_audit_export",
    "wagtailsnippets_loyalty_reward:add", "wagtail_serve",
}  # fmt: skip


def forged_post_client(user) -> Client:
    """A signed-in browser holding a valid CSRF cookie, posting from a page without the token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.cookies[settings.CSRF_COOKIE_NAME] = _get_new_csrf_string()
    return client


def refusals(client: Client, walked, caplog) -> list[str]:
    problems = []
    for endpoint in walked:
        if endpoint.route in CSRF_EXEMPT_ALLOWED or endpoint.route.startswith(
            tuple(CSRF_EXEMPT_PREFIXES)
        ):
            continue
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="django.security.csrf"):
            response = client.post(endpoint.path, {"any": "thing"})
        csrf_refused = any(r.name == "django.security.csrf" for r in caplog.records)
        if response.status_code != 403 or not csrf_refused:
            problems.append(f"{endpoint}: {response.status_code}, csrf check ran: {csrf_refused}")
    return problems


def test_the_walk_reaches_every_area_and_builds_a_path_for_every_route():
    walked, problems = endpoints()
    assert problems == []
    names = {endpoint.name for endpoint in walked}
    assert MUST_BE_WALKED - names == set()
    assert set(CSRF_EXEMPT_ALLOWED) <= {endpoint.route for endpoint in walked}
    for prefix in CSRF_EXEMPT_PREFIXES:
        assert any(endpoint.route.startswith(prefix) for endpoint in walked), prefix


def test_member_endpoints_refuse_a_post_without_csrf_token(member, caplog):
    walked = [endpoint for endpoint in endpoints()[0] if not endpoint.admin]
    client = forged_post_client(member.user)
    assert refusals(client, walked, caplog) == []
    assert not PointsEntry.objects.exists() and not Redemption.objects.exists()


def test_staff_admin_endpoints_refuse_a_post_without_csrf_token(staff, caplog):
    walked = [endpoint for endpoint in endpoints()[0] if endpoint.admin]
    assert len(walked) > 40
    client = forged_post_client(staff)
    assert refusals(client, walked, caplog) == []


def test_the_same_post_with_the_token_is_accepted(member):
    """The refusals above are the CSRF check, not some other 403: with the token it works."""
    client = forged_post_client(member.user)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post(
        "/notifications/preferences/", {"muted": ["comment_reply"], "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"},
                           HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
