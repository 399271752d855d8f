"""No URL answers a 5xx, whatever is put into its path and whoever asks.

Every route of ``config.urls`` with a path parameter (ours, allauth's and all of Wagtail's admin,
found by walking the resolver, so a new route is covered without being listed) is requested
with values nobody should send: a NUL character (PostgreSQL refuses it in text), bytes that are
not UTF-8, an over-long string, integers past every column's range, text with quotes and line
breaks, and the ids of rows that belong to someone else. Each persona asks: an outsider, an
applicant, members of the lowest and highest tier, a suspended member, one who left, and staff.

The walk is sampled, not multiplied out: each parameter of each route gets the values that broke
things before (NUL, not UTF-8, over-long, past the integer range, 0) and two more in turn, and
each request goes to the next persona and method (GET, POST) in turn: about a thousand requests,
some 15 seconds. Members opening the staff admin also get checked for what they see: a redirect
to the login or a refusal, never a page that names anyone.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from urllib.parse import unquote

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils.regex_helper import normalize

from community import demo
from community.models import GatedPage
from community.models_interaction import Comment
from members.models import Consent, Member
from members.selectors import current_consent_text
from share.models import Share
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

# Path values as sent on the wire (percent-encoded where a browser would encode them).
BAD_TEXT = [
    "%00abc",  # NUL: PostgreSQL cannot hold it in text
    "abc%00",
    "%ff%fe",  # not UTF-8
    "%c0%af",  # an over-long UTF-8 encoding of "/"
    "x" * 400,  # longer than any column or token
    "%E4%B8%AD%E6%96%87",  # valid non-ASCII
    "%27%20OR%201%3D1--",  # quotes
    "a%0d%0aSet-Cookie:%20x=1",  # CR LF
    "-1",
    "..",
    "%2e%2e%2f%2e%2e",
]
BAD_INTS = ["0", "2147483648", "9223372036854775808", "9" * 40]
BAD_UUIDS = ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"]
SAMPLES = {"int": "1", "str": "1", "slug": "x-1", "path": "x/1",
           "uuid": "00000000-0000-0000-0000-000000000001"}  # fmt: skip
REGEX_SAMPLES = ("1", "x", "x-1", "")
PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Route:
    """One URL pattern as a template: literal pieces and named parameters with their kind."""

    route: str
    callback: object
    pieces: tuple  # str literal, or (kind, name); kind is a converter name or "regex"
    regexes: tuple  # the raw regexes of RegexPattern pieces (for their own samples)

    @property
    def parameters(self) -> list[tuple[str, str]]:
        return [piece for piece in self.pieces if isinstance(piece, tuple)]

    def path(self, values: dict[str, str]) -> str:
        out = []
        for piece in self.pieces:
            out.append(piece if isinstance(piece, str) else values[piece[1]])
        return "/" + "".join(out)


def _pieces(pattern) -> tuple[list, list] | None:
    """A pattern's literal text and parameters; None for a regex no sample can fill."""
    if isinstance(pattern, RoutePattern):
        pieces, last = [], 0
        text = str(pattern)
        for match in PARAMETER.finditer(text):
            pieces.append(text[last : match.start()])
            pieces.append((match.group(1) or "str", match.group(2)))
            last = match.end()
        pieces.append(text[last:])
        return [p for p in pieces if p != ""], []
    if isinstance(pattern, RegexPattern):
        compiled = re.compile(pattern._regex)
        for template, params in normalize(pattern._regex):
            for value in REGEX_SAMPLES:
                if compiled.match(template % {param: value for param in params}):
                    pieces = []
                    for part in re.split(r"(%\(\w+\)s)", template):
                        name = re.fullmatch(r"%\((\w+)\)s", part)
                        pieces.append(("regex", name.group(1)) if name else part)
                    return [p for p in pieces if p != ""], [pattern._regex]
        return None
    return None


def _walk(resolver: URLResolver, prefix: tuple, regexes: tuple):
    for entry in resolver.url_patterns:
        found = _pieces(entry.pattern)
        if found is None:
            continue
        pieces, own_regexes = found
        if isinstance(entry, URLResolver):
            yield from _walk(entry, prefix + tuple(pieces), regexes + tuple(own_regexes))
        elif isinstance(entry, URLPattern):
            yield Route(str(entry.pattern), entry.callback, prefix + tuple(pieces),
                        regexes + tuple(own_regexes))  # fmt: skip


def _decoded(path: str) -> str:
    """The path as Django's WSGI handler hands it to the resolver (bytes that are not UTF-8
    come back percent-encoded)."""
    raw = unquote(path, encoding="latin-1").encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from django.utils.encoding import repercent_broken_unicode

        return repercent_broken_unicode(raw).decode()


def _resolves_to(path: str, callback) -> bool:
    try:
        return resolve(_decoded(path)).func is callback
    except Resolver404:
        return False


def routes_with_parameters() -> list[Route]:
    """Every route with at least one parameter, across every include (admin and allauth too)."""
    return [route for route in _walk(get_resolver(), (), ()) if route.parameters]


# Sent to every route that accepts them; the other values take turns, two per parameter.
ALWAYS = frozenset({"%00abc", "%ff%fe", "x" * 400, "9" * 40, "0"})
ROTATING_PER_PARAMETER = 2


def requests_for(route: Route, ids: list[str], turn: int) -> list[str]:
    """Paths for one route: each parameter in turn takes bad values (the others keep a harmless
    sample); only paths that still reach the route's own view are kept."""
    base = {}
    for kind, name in route.parameters:
        base[name] = SAMPLES.get(kind, "1")
    if not _resolves_to(route.path(base), route.callback):
        for value in REGEX_SAMPLES:  # a regex parameter: find a sample it accepts
            trial = {name: value for name in base}
            if _resolves_to(route.path(trial), route.callback):
                base = trial
                break
    paths = []
    for _kind, name in route.parameters:
        accepted = [
            value
            for value in BAD_TEXT + BAD_INTS + BAD_UUIDS + ids
            if _resolves_to(route.path({**base, name: value}), route.callback)
        ]
        others = [value for value in accepted if value not in ALWAYS]
        start = turn % len(others) if others else 0
        picked = others[start : start + ROTATING_PER_PARAMETER]
        for value in [value for value in accepted if value in ALWAYS] + picked:
            paths.append(route.path({**base, name: value}))
    return list(dict.fromkeys(paths))


@pytest.fixture
def world(landing_site, settings):
    """The demo club, members in every state, another member's rows, and staff."""
    settings.STAFF_REQUIRE_MFA = False
    tiers = standard_tiers()
    demo.load()
    text = current_consent_text()

    def member(**fields) -> Member:
        person = MemberFactory(**fields)
        Consent.objects.get_or_create(member=person, text=text)
        return person

    other = member(tier=tiers["gold"], display_name="别人的名字")
    page = GatedPage.objects.order_by("pk").last()
    comment = Comment.objects.create(page_id=page.pk, member=other, body="别人的评论",
                                     state="published")  # fmt: skip
    share = Share.objects.create(
        member=other, kind=Share.Kind.ITEM, item=page, subject_key=f"item:{page.pk}",
        subject_title=page.title, text="看看", token="OtherToken123456",
        link="http://testserver/s/OtherToken123456/", rip="203.0.113.1", show_name=True,
    )  # fmt: skip
    staff = StaffFactory(username="staff-person-name")
    personas = {
        "outsider": None,
        "applicant": member(state=Member.State.APPLICANT, tier=None, joined_at=None).user,
        "regular": member(tier=tiers["regular"]).user,
        "platinum": member(tier=tiers["platinum"]).user,
        "suspended": member(tier=tiers["gold"], state=Member.State.SUSPENDED).user,
        "left": member(tier=tiers["gold"], state=Member.State.LEFT).user,
        "staff": staff,
    }
    clients = {}
    for name, user in personas.items():
        client = Client(raise_request_exception=False)
        if user is not None:
            client.force_login(user)
        clients[name] = client
    ids = sorted({str(value) for value in (
        other.pk, other.user_id, staff.pk, page.pk, comment.pk, share.pk,
    )})  # fmt: skip
    names = [other.display_name, other.user.username, staff.username]
    return {"clients": clients, "ids": ids, "names": names, "page": page}


def test_no_path_value_and_no_persona_gets_a_server_error(world):
    clients = world["clients"]
    personas = itertools.cycle(list(clients))
    methods = itertools.cycle(("get", "post", "get"))
    errors, sent = [], 0
    routes = routes_with_parameters()
    assert len(routes) > 100, "the walk lost the admin or allauth routes"
    for turn, route in enumerate(routes):
        for path in requests_for(route, world["ids"], turn):
            persona, method = next(personas), next(methods)
            response = getattr(clients[persona], method)(path)
            sent += 1
            if response.status_code >= 500:
                errors.append(f"{method.upper()} {path[:120]} as {persona}: "
                              f"{response.status_code} ({route.route})")  # fmt: skip
    assert not errors, f"{len(errors)} of {sent} requests failed:\n" + "\n".join(errors)


def test_share_landing_pages_with_a_nul_or_garbage_token_are_not_found(world):
    for path in ("/s/%00abc/", "/s/%00abc/card.jpg", "/s/%ff%fe/", "/s/" + "x" * 400 + "/",
                 "/s/abc%00/card.jpg"):  # fmt: skip
        assert world["clients"]["outsider"].get(path).status_code == 404, path


LOGIN_PAGES = ("/admin/login/", "/accounts/login/", "/members/login/")


def test_staff_get_not_found_where_wagtails_admin_used_to_fail(world):
    """Path values the admin's own views did not survive (each was a 500)."""
    staff, page = world["clients"]["staff"], world["page"]
    assert staff.get(f"/admin/pages/{page.pk}/revisions/0/revert/").status_code == 404
    assert staff.post("/admin/pages/1/set_position/?position=0").status_code == 404
    for path in ("/admin/snippets/choose/loyalty/reward/chosen/abc/",
                 "/admin/images/chooser/chosen/abc/", "/admin/documents/chooser/chosen/%ff/",
                 "/admin/workflows/tasks/add/wagtailcore/%00task/"):  # fmt: skip
        assert staff.get(path).status_code == 404, path
    # What the guard lets through still works.
    assert staff.get(f"/admin/pages/{page.pk}/edit/").status_code == 200


def test_members_opening_the_staff_admin_are_sent_away_and_see_no_names(world):
    page = world["page"]
    paths = ["/admin/", f"/admin/pages/{page.pk}/edit/", f"/admin/pages/{page.pk}/",
             "/admin/users/", f"/admin/users/{world['ids'][0]}/", "/admin/members/",
             "/admin/reports/", "/admin/audit/"]  # fmt: skip
    for persona in ("applicant", "regular", "platinum", "suspended", "left"):
        client = world["clients"][persona]
        for path in paths:
            response = client.get(path)
            assert response.status_code in (302, 403, 404), (persona, path, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith(LOGIN_PAGES), response["Location"]
            html = response.content.decode(errors="replace")
            for name in world["names"]:
                assert name not in html, (persona, path, name)
