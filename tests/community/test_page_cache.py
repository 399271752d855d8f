"""Cached pages never disagree with the gate.

Every persona (outsider, applicant, suspended, each tier, staff) loads every demo item and the
feed, so every cache (outsider pages, fragments per access class, routes) is warm; then one
thing changes, and the next request of every persona must get exactly what the gate now says.
Changes by the clock (expiry, the end of early access) are waited out for one second past
their moment. Throughout, a response carrying member-only text must never be public, the
outsider cache must never hold it, and signed-in viewers' responses are private.
"""

from __future__ import annotations

import pickle
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone

from community import demo, gate
from community.interaction.services import comment_create, comment_moderate
from community.models import GatedPage
from core import pagecache
from members import services as member_services
from members.models import AdmissionSettings, Member, Tier
from members.selectors import viewer_status
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

PERSONAS = ["outsider", "applicant", "suspended", "regular", "silver", "gold", "platinum", "staff"]
SECRETS = [demo.secret_marker(slug) for slug, *_rest in demo.DEMO_ITEMS]


@pytest.fixture
def world(db):
    tiers = standard_tiers()
    demo.load()
    clients = {"outsider": Client()}
    users = {"outsider": None}
    for persona in PERSONAS[1:]:
        client = Client()
        if persona == "staff":
            user = StaffFactory()
        else:
            special = {"applicant": Member.State.APPLICANT, "suspended": Member.State.SUSPENDED}
            state = special.get(persona, Member.State.MEMBER)
            user = MemberFactory(state=state, tier=tiers.get(persona, tiers["gold"])).user
        client.force_login(user)
        clients[persona], users[persona] = client, user
    return {"clients": clients, "users": users, "tiers": tiers, "staff": StaffFactory()}


def page(slug: str) -> GatedPage:
    return GatedPage.objects.get(slug=slug).specific


def outsider_cache_texts() -> list[str]:
    """Every live page body in the outsider cache (of the current generation), decoded."""
    client = pagecache.redis_client()
    current = pagecache.generation()
    texts = []
    for key in client.scan_iter(match=cache.make_key("pagecache:outsider:*")):
        raw = client.get(key)
        stored = pickle.loads(raw) if raw else None
        if stored is not None and stored.generation == current:
            texts.append(stored.content.decode())
    return texts


def check_every_persona(world) -> None:
    """Each persona's item pages and feed say exactly what the gate says, with safe headers."""
    items = list(GatedPage.objects.all())
    for persona in PERSONAS:
        client, user = world["clients"][persona], world["users"][persona]
        viewer = viewer_status(user)
        feed = client.get("/community/")
        feed_html = feed.content.decode()
        for item in items:
            decision = gate.decide(viewer, item.specific, gate.Surface.PAGE)
            listed = gate.decide(viewer, item.specific, gate.Surface.LISTING)
            # Wagtail serves and lists live pages only, to staff as well (they preview drafts);
            # listings leave out what has expired.
            expired = item.expire_at is not None and item.expire_at <= timezone.now()
            shown = item.live and not expired and listed.visible
            assert (item.title in feed_html) == shown, (persona, item.slug, "feed")
            response = client.get(item.url)
            if not (item.live and decision.visible):
                assert response.status_code == 404, (persona, item.slug)
                continue
            assert response.status_code == 200, (persona, item.slug)
            html = response.content.decode()
            assert item.title in html, (persona, item.slug)
            secret = demo.secret_marker(item.slug)
            assert (secret in html) == decision.full, (persona, item.slug, decision.access)
            control = response.get("Cache-Control", "")
            if any(marker in html for marker in SECRETS) and item.access != item.Access.PUBLIC:
                assert "public" not in control, (persona, item.slug, control)
            if persona != "outsider":
                assert "private" in control or "no-store" in control, (persona, item.slug)
        if persona != "outsider":
            assert "public" not in feed.get("Cache-Control", "")
    public = {
        demo.secret_marker(item.slug)
        for item in GatedPage.objects.live().filter(access=GatedPage.Access.PUBLIC)
    }
    for text in outsider_cache_texts():
        for secret in set(SECRETS) - public:
            assert secret not in text, secret


def publish(item: GatedPage, **changes) -> None:
    for name, value in changes.items():
        setattr(item, name, value)
    item.save_revision(user=None).publish()


def test_outsider_pages_are_served_from_the_cache_with_public_headers(world):
    outsider = world["clients"]["outsider"]
    item = page("milan-backstage")
    first = outsider.get(item.url)
    second = outsider.get(item.url)
    assert first["X-Page-Cache"] == "miss" and second["X-Page-Cache"] == "hit"
    assert second.content == first.content
    assert "public" in second["Cache-Control"] and "s-maxage=" in second["Cache-Control"]
    assert "Cookie" in second["Vary"]
    # A signed-in viewer never gets the outsider copy, and their page is private.
    gold = world["clients"]["gold"].get(item.url)
    assert "X-Page-Cache" not in gold
    assert demo.secret_marker("milan-backstage") in gold.content.decode()
    assert "private" in gold["Cache-Control"]


def test_a_cookie_that_could_change_the_page_skips_the_outsider_cache(world):
    item = page("behind-the-collection")
    Client().get(item.url)
    visitor = Client()
    visitor.cookies["messages"] = "anything"
    response = visitor.get(item.url)
    assert "X-Page-Cache" not in response
    assert "public" not in response["Cache-Control"]


def test_unpublish_edit_and_publish_reach_every_persona(world):
    check_every_persona(world)
    page("milan-backstage").unpublish()
    check_every_persona(world)
    item = page("behind-the-collection")
    publish(item, title="幕后故事（更新版）", summary="新的公开摘要")
    check_every_persona(world)
    publish(page("milan-backstage"))
    check_every_persona(world)


def test_a_changed_access_rule_or_teaser_reaches_every_persona(world):
    check_every_persona(world)
    platinum = world["tiers"]["platinum"]
    publish(page("milan-backstage"), min_tier=platinum)
    check_every_persona(world)
    publish(page("shanghai-tasting"), access=GatedPage.Access.PUBLIC)
    check_every_persona(world)
    publish(page("silver-coupon"), hide_when_locked=True)
    check_every_persona(world)


def test_a_renamed_tier_or_reranked_tier_reaches_every_persona(world):
    check_every_persona(world)
    gold = Tier.objects.get(code="gold")
    gold.rank = 99  # gold now ranks above platinum
    gold.name = "黑金卡"
    gold.save()
    check_every_persona(world)
    assert (
        "黑金卡" in world["clients"]["outsider"].get(page("milan-backstage").url).content.decode()
    )


def test_expiry_and_the_end_of_early_access_by_the_clock(world):
    # Far enough ahead that every persona's pages are cached before the moment passes.
    soon = timezone.now() + timedelta(seconds=12)
    publish(page("behind-the-collection"), expire_at=soon)
    presale = page("presale-early-access")
    publish(presale, early_access_until=soon)
    check_every_persona(world)
    gold = world["clients"]["gold"]
    assert demo.secret_marker("presale-early-access") not in gold.get(presale.url).content.decode()
    assert timezone.now() < soon, "the machine was too slow to warm the caches in time"
    time.sleep(max(0.0, (soon - timezone.now()).total_seconds()) + 1.0)
    check_every_persona(world)
    assert demo.secret_marker("presale-early-access") in gold.get(presale.url).content.decode()
    assert world["clients"]["outsider"].get(page("behind-the-collection").url).status_code == 404


def test_a_scheduled_go_live_appears_when_published(world):
    item = page("milan-trip")
    item.unpublish()
    check_every_persona(world)
    item = page("milan-trip")
    item.go_live_at = timezone.now() + timedelta(seconds=1)
    item.save_revision(user=None, approved_go_live_at=item.go_live_at).publish()
    check_every_persona(world)
    assert world["clients"]["gold"].get(item.url).status_code == 404
    time.sleep(1.2)
    call_command("publish_scheduled")
    check_every_persona(world)
    assert world["clients"]["gold"].get(page("milan-trip").url).status_code == 200


def test_a_moderated_comment_leaves_the_outsider_page(world):
    welcome = page("welcome")  # public: outsiders see it whole, comments included
    writer = Member.objects.get(user=world["users"]["gold"])
    comment = comment_create(member=writer, page=welcome, body="这家店的咖啡很好喝")
    outsider = world["clients"]["outsider"]
    assert "这家店的咖啡很好喝" in outsider.get(welcome.url).content.decode()
    assert outsider.get(welcome.url)["X-Page-Cache"] == "hit"
    comment_moderate(comment=comment, actor=world["staff"], decision="reject", reason="广告")
    assert "这家店的咖啡很好喝" not in outsider.get(welcome.url).content.decode()


def test_changes_to_the_viewer_take_effect_on_the_next_request(world):
    item = page("milan-backstage")  # gold and above
    secret = demo.secret_marker("milan-backstage")
    visitor = Client()
    assert secret not in visitor.get(item.url).content.decode()
    member = MemberFactory(tier=world["tiers"]["gold"])
    visitor.force_login(member.user)  # logging in
    assert secret in visitor.get(item.url).content.decode()

    Member.objects.filter(pk=member.pk).update(tier=world["tiers"]["silver"])  # a downgrade
    assert secret not in visitor.get(item.url).content.decode()
    Member.objects.filter(pk=member.pk).update(tier=world["tiers"]["platinum"])  # an upgrade
    assert secret in visitor.get(item.url).content.decode()

    applicant = world["clients"]["applicant"]
    applicant_member = Member.objects.get(user=world["users"]["applicant"])
    assert (
        demo.secret_marker("shanghai-tasting")
        not in applicant.get(page("shanghai-tasting").url).content.decode()
    )
    Member.objects.filter(pk=applicant_member.pk).update(state=Member.State.MEMBER)  # admitted
    assert (
        demo.secret_marker("shanghai-tasting")
        in applicant.get(page("shanghai-tasting").url).content.decode()
    )

    member.refresh_from_db()
    member_services.member_suspend(member=member, actor=world["staff"], reason="测试")
    assert secret not in visitor.get(item.url).content.decode()


def test_leaving_takes_effect_on_the_next_request(world):
    gold = world["clients"]["gold"]
    item = page("milan-backstage")
    assert demo.secret_marker("milan-backstage") in gold.get(item.url).content.decode()
    member = Member.objects.get(user=world["users"]["gold"])
    member_services.member_leave(member=member)
    assert demo.secret_marker("milan-backstage") not in gold.get(item.url).content.decode()


def test_staff_previews_never_reach_the_cache(world):
    item = page("behind-the-collection")
    outsider = world["clients"]["outsider"]
    outsider.get(item.url)
    draft = page("behind-the-collection")
    draft.title = "草稿标题，尚未发布"
    draft.save_revision(user=None)  # a draft, not published
    for mode in ("outsider", "tier:gold", ""):
        request = RequestFactory().get(item.url)
        request.user = world["staff"]
        preview = draft.make_preview_request(request, mode)
        preview.render()
        assert "草稿标题，尚未发布" in preview.content.decode()
    for persona in PERSONAS:
        html = world["clients"][persona].get(item.url).content.decode()
        assert "草稿标题，尚未发布" not in html, persona


def test_the_share_landing_page_is_cached_and_still_counts_each_visitor(world):
    from share.models import Share, ShareSettings, ShareVisit
    from share.services import share_visits_flush

    # Settings rows are created on first use, which bumps the generation mid-test.
    ShareSettings.load()
    AdmissionSettings.load()
    member = Member.objects.get(user=world["users"]["gold"])
    item = page("milan-trip")
    share = Share.objects.create(
        member=member, kind=Share.Kind.ITEM, item=item, text="米兰", token="tok123",
        subject_key=f"item:{item.pk}", subject_title=item.title, rip="203.0.113.9",
        link=f"{settings.SITE_URL}/s/tok123/", state=Share.State.SENT, show_name=True,
        sent_at=timezone.now(),
    )  # fmt: skip
    responses = [
        Client(HTTP_USER_AGENT=f"phone {n}", REMOTE_ADDR=f"198.51.100.{n}").get("/s/tok123/")
        for n in range(1, 4)
    ]
    assert [r["X-Page-Cache"] for r in responses] == ["miss", "hit", "hit"]
    for response in responses:
        assert "club_ref" in response.cookies  # the referral is remembered on every copy
        assert "private" in response["Cache-Control"]  # it sets cookies: no shared copy
    share_visits_flush()
    assert ShareVisit.objects.filter(share=share).count() == 3


def test_a_wagtail_view_restriction_added_later_applies_at_once(world):
    from wagtail.models import PageViewRestriction

    welcome = page("welcome")  # public: kept for outsiders, its restrictions answer kept too
    outsider, gold = world["clients"]["outsider"], world["clients"]["gold"]
    assert outsider.get(welcome.url).status_code == 200
    assert outsider.get(welcome.url)["X-Page-Cache"] == "hit"
    restriction = PageViewRestriction.objects.create(
        page=welcome, restriction_type=PageViewRestriction.LOGIN
    )
    response = outsider.get(welcome.url)
    assert response.status_code == 302 and "X-Page-Cache" not in response
    assert gold.get(welcome.url).status_code == 200
    restriction.delete()
    assert outsider.get(welcome.url).status_code == 200


def test_a_members_feed_is_kept_for_them_and_every_change_reaches_it(world):
    """The feed holds nothing personal beyond the header, so a member's copy is kept whole;
    a copy is never another member's, nor older than the member's tier, state or badge."""
    gold, silver = world["clients"]["gold"], world["clients"]["silver"]
    locked_for_silver = "🔒 金卡及以上会员专享"  # gold items show as locked teasers below gold
    for client in (gold, silver):
        client.get("/community/")  # the browser receives its CSRF cookie
        client.get("/community/")
    kept = gold.get("/community/")
    assert kept["X-Page-Cache"] == "hit"
    assert kept["Cache-Control"].startswith("private")
    assert locked_for_silver not in kept.content.decode()
    assert silver.get("/community/")["X-Page-Cache"] == "hit"
    assert locked_for_silver in silver.get("/community/").content.decode()

    member = Member.objects.get(user=world["users"]["gold"])
    Member.objects.filter(pk=member.pk).update(tier=world["tiers"]["silver"])  # a downgrade
    downgraded = gold.get("/community/")
    assert downgraded.get("X-Page-Cache") is None
    assert locked_for_silver in downgraded.content.decode()

    from core import notifications

    gold.get("/community/")
    assert gold.get("/community/")["X-Page-Cache"] == "hit"
    notifications.notify(user_id=member.user_id, kind="points", title="积分到账")
    assert 'data-count="1"' in gold.get("/community/").content.decode()

    backstage = page("milan-backstage")
    publish(backstage, title="米兰后台（更新）")  # any shared change
    assert "米兰后台（更新）" in gold.get("/community/").content.decode()
    Member.objects.filter(pk=member.pk).update(tier=world["tiers"]["gold"])
    gold.get("/community/")
    assert gold.get("/community/")["X-Page-Cache"] == "hit"
    member.refresh_from_db()
    member_services.member_suspend(member=member, actor=world["staff"], reason="测试")
    suspended = gold.get("/community/")
    assert suspended.get("X-Page-Cache") is None
    assert locked_for_silver in suspended.content.decode()
