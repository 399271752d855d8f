"""A 金卡 member at an event: checked in at the door, they post a photo from their phone's
file picker, watch it being processed, see it approved by a moderator, and share it to Weibo.

The member is on a phone; staff work in the admin on a desktop, in their own browser context;
a real Celery worker processes the upload and posts the share.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from community.models import ActivityPage, ActivityPhoto
from core import crypto, pagecache
from members.demo import DEMO_STAFF_USERNAME
from members.models import Member
from tests.browser.conftest import DESKTOP, SITE, load_club
from tests.community.photo_helpers import heic_with_gps
from tests.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GOLD_UID = "1001000012"  # 金卡会员王先生 of the demo club


@pytest.fixture
def club(transactional_db, weibo_sandbox):
    load_club()
    token = requests.post(f"{weibo_sandbox}/_sandbox/tokens", json={"uid": GOLD_UID}, timeout=5)
    Member.objects.filter(weibo_uid=GOLD_UID).update(
        weibo_token_encrypted=crypto.encrypt(token.json()["access_token"]),
        weibo_token_state=Member.TokenState.VALID,
    )
    # The tasting started ten minutes ago; its wall takes three photos a member, reviewed first.
    ActivityPage.objects.filter(slug="milan-trip").update(
        starts_at=timezone.now() - timedelta(minutes=10),
        ends_at=timezone.now() + timedelta(hours=2),
        registration_closes_at=timezone.now() + timedelta(hours=1),
        photo_limit=3,
        photo_moderation=ActivityPage.PhotoModeration.PRE,
        shareable=True,
    )
    pagecache.bump()
    return SimpleNamespace(
        member=Member.objects.select_related("user", "tier").get(weibo_uid=GOLD_UID),
        staff=get_user_model().objects.get(username=DEMO_STAFF_USERNAME),
        activity=ActivityPage.objects.get(slug="milan-trip"),
    )


def test_member_checks_in_posts_a_photo_sees_it_approved_and_shares_it(
    page_for, club, celery_worker_process, weibo_sandbox
):
    member_page = page_for(club.member.user)  # phone
    staff_page = page_for(club.staff, viewport=DESKTOP)
    activity = club.activity

    # Register, then check in at the door with the membership card's code.
    member_page.goto(f"{SITE}{activity.url}")
    member_page.get_by_test_id("registration").get_by_role("button", name="立即报名").click()
    expect(member_page.get_by_test_id("registration-state")).to_have_text(
        "您已报名，名额已为您保留。"
    )
    member_page.goto(f"{SITE}/members/card/")
    shown = member_page.get_by_test_id("card-code")
    expect(shown).to_have_text(re.compile(rf"{club.member.pk}-\d{{4}}-\d{{8}}"))
    staff_page.goto(f"{SITE}/community/checkin/{activity.pk}/")
    staff_page.locator("#checkin-card-code").fill(shown.inner_text())
    staff_page.get_by_role("button", name="签到", exact=True).click()
    expect(staff_page.get_by_test_id("scan-result")).to_contain_text("签到成功")

    # The activity page now invites the member to post; the phone's file picker gives a HEIC.
    member_page.goto(f"{SITE}{activity.url}")
    member_page.get_by_test_id("photo-post-link").click()
    upload = member_page.get_by_test_id("photo-upload")
    expect(upload).to_contain_text("您还可以发 3 张照片")
    member_page.get_by_test_id("photo-file").set_input_files(
        files=[{"name": "IMG_4032.HEIC", "mimeType": "image/heic", "buffer": heic_with_gps()}]
    )
    member_page.locator("#photo-caption").fill("米兰的夜晚")
    member_page.get_by_test_id("photo-consent").check()
    member_page.get_by_test_id("photo-submit").click()
    # Progress is shown while the worker processes it; then the page shows it waiting for review.
    expect(member_page.get_by_test_id("own-photo-state")).to_have_text("待审核", timeout=30000)
    photo = ActivityPhoto.objects.get(member=club.member)
    assert photo.state == ActivityPhoto.State.HELD and photo.public_consent

    # A moderator approves it from the queue.
    staff_page.goto(f"{SITE}/admin/community/moderation/photos/")
    row = staff_page.locator(f"#queue-photo-{photo.pk}")
    expect(row).to_contain_text("米兰的夜晚")
    row.get_by_role("button", name="通过").click()
    expect(staff_page.get_by_test_id("photo-queue-empty")).to_be_visible()

    # The member sees it on the wall and is told.
    member_page.goto(f"{SITE}/community/activities/{activity.pk}/photos/")
    expect(member_page.get_by_test_id("wall-photo")).to_contain_text("米兰的夜晚")
    thumb = member_page.get_by_test_id("wall-photo").locator("img")
    expect(thumb).to_have_js_property("naturalWidth", 400)
    member_page.locator(".notifications-link").click()
    expect(member_page.get_by_test_id("notification-list")).to_contain_text("您的照片已通过审核")

    # And shares it: the usual confirmation, posted once by the worker, with the photo's card.
    member_page.goto(f"{SITE}/community/activities/{activity.pk}/photos/")
    member_page.get_by_test_id("photo-share").click()
    form = member_page.get_by_test_id("share-confirm")
    expect(form.locator("#share-text")).to_have_value(re.compile(re.escape(activity.title)))
    form.get_by_role("button", name="确认发布到微博").click()
    expect(member_page.get_by_test_id("shares")).to_contain_text(activity.title)
    posts = wait_until(
        lambda: requests.get(f"{weibo_sandbox}/_sandbox/posts?uid={GOLD_UID}", timeout=5).json(),
        30,
    )
    assert len(posts) == 1
    assert activity.title in posts[0]["text"] and "/s/" in posts[0]["text"]
    assert posts[0]["pic"]["content_type"] == "image/jpeg"
