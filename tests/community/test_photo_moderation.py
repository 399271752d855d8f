"""Moderating photo walls, in both modes: pre-moderation (nothing shows before a moderator
approves) and post-moderation (photos show at once; reports and keyword flags bring them to
the queue). Captions go through the same keyword rules as comments; decisions leave an audit
entry, keep the picture for the record (留痕) and tell the poster.
"""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from community.models import ActivityPage, ActivityPhoto, ModerationKeyword, PhotoReport
from community.photos import services
from core.models import AuditEntry, Notification
from loyalty.models import EarningRule, PointsEntry
from tests.community import photo_helpers as ph
from tests.community.test_moderation import keyword, staff_with
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db
State = ActivityPhoto.State
QUEUE = "/admin/community/moderation/photos/"


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    settings.STAFF_REQUIRE_MFA = False


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def poster(tiers):
    return MemberFactory(tier=tiers["gold"], display_name="摄影会员")


@pytest.fixture
def viewer(tiers):
    client = Client()
    client.force_login(MemberFactory(tier=tiers["gold"]).user)
    return client


@pytest.fixture
def moderator():
    user = staff_with("community.change_comment")
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def on_wall(client: Client, photo: ActivityPhoto) -> bool:
    body = client.get(f"/community/activities/{photo.activity_id}/photos/").content.decode()
    return f"/community/photos/{photo.pk}/thumb.jpg" in body


def decide(moderator: Client, photo, decision: str, reason: str = ""):
    return moderator.post(f"{QUEUE}{photo.pk}/decide/", {"decision": decision, "reason": reason})


def test_pre_moderation_shows_nothing_until_a_moderator_approves(
    poster, viewer, moderator, django_capture_on_commit_callbacks
):
    EarningRule.objects.create(name="活动照片", trigger="photo_approved", points=15, cap_per_day=1)
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    first = ph.upload(activity, poster, caption="第一张")
    second = ph.upload(activity, poster, caption="第二张")
    assert first.state == State.HELD
    assert not on_wall(viewer, first)
    assert viewer.get(f"/community/photos/{first.pk}/image.jpg").status_code == 404
    # The moderation queue shows them, and the comment queue has a tab with their count.
    tab = moderator.get("/admin/community/moderation/").content.decode()
    assert "活动照片（2）" in tab
    queue = moderator.get(QUEUE).content.decode()
    assert f'id="queue-photo-{first.pk}"' in queue and "第一张" in queue
    with django_capture_on_commit_callbacks(execute=True):
        assert decide(moderator, first, "approve").status_code == 302
        decide(moderator, second, "approve")
    first.refresh_from_db()
    assert first.state == State.PUBLISHED and first.decided_by == moderator.user
    assert on_wall(viewer, first)
    assert viewer.get(f"/community/photos/{first.pk}/image.jpg").status_code == 200
    note = Notification.objects.filter(user_id=poster.user_id, kind="moderation").first()
    assert note is not None and note.title == "您的照片已通过审核"
    assert AuditEntry.objects.filter(action="photo.approved").count() == 2
    # Points once per approved photo, within the rule's cap (one a day).
    entries = PointsEntry.objects.filter(account__member=poster, rule__trigger="photo_approved")
    assert [e.amount for e in entries] == [15]
    assert entries.get().idempotency_key.endswith(f"photo:{first.pk}")
    # The queue is empty now.
    assert 'data-testid="photo-queue-empty"' in moderator.get(QUEUE).content.decode()


def test_rejecting_needs_a_reason_keeps_the_picture_and_tells_the_poster(
    poster, viewer, moderator, django_capture_on_commit_callbacks
):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster)
    decide(moderator, photo, "reject")
    photo.refresh_from_db()
    assert photo.state == State.HELD  # no reason: nothing happened
    with django_capture_on_commit_callbacks(execute=True):
        decide(moderator, photo, "reject", "与活动无关")
    photo.refresh_from_db()
    assert photo.state == State.REJECTED and photo.decision_reason == "与活动无关"
    assert default_storage.exists(photo.image_name)  # kept for the record
    assert moderator.get(f"/community/photos/{photo.pk}/image.jpg").status_code == 200
    assert viewer.get(f"/community/photos/{photo.pk}/image.jpg").status_code == 404
    note = Notification.objects.get(user_id=poster.user_id, kind="moderation")
    assert (note.title, note.body) == ("您的照片未通过审核", "与活动无关")
    entry = AuditEntry.objects.get(action="photo.rejected")
    assert entry.actor == moderator.user and entry.reason == "与活动无关"
    # The poster sees what became of it.
    own = Client()
    own.force_login(poster.user)
    body = own.get(f"/community/activities/{activity.pk}/photos/").content.decode()
    assert "未通过审核" in body and "与活动无关" in body


def test_post_moderation_shows_at_once_and_reports_bring_a_photo_to_the_queue(
    tiers, poster, viewer, moderator, django_capture_on_commit_callbacks
):
    activity = ph.wall_activity(photo_moderation=ActivityPage.PhotoModeration.POST)
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster, caption="大家好")
    assert photo.state == State.PUBLISHED
    assert on_wall(viewer, photo)
    assert 'data-testid="photo-queue-empty"' in moderator.get(QUEUE).content.decode()
    reporter = MemberFactory(tier=tiers["gold"])
    client = Client()
    client.force_login(reporter.user)
    wall = client.get(f"/community/activities/{activity.pk}/photos/").content.decode()
    assert f"?report={photo.pk}#report" in wall and 'data-testid="photo-report"' not in wall
    form = client.get(f"/community/activities/{activity.pk}/photos/?report={photo.pk}")
    assert f"/community/photos/{photo.pk}/report/" in form.content.decode()
    response = client.post(f"/community/photos/{photo.pk}/report/",
                           {"reason": "privacy", "detail": "拍到了我"})  # fmt: skip
    assert response.status_code == 302
    with pytest.raises(services.PhotoAlreadyReported):
        services.photo_report(member=reporter, photo=photo, reason="spam")
    queue = moderator.get(QUEUE).content.decode()
    assert f'id="queue-photo-{photo.pk}"' in queue and "拍到了我" in queue
    with django_capture_on_commit_callbacks(execute=True):
        decide(moderator, photo, "reject", "涉及他人隐私")
    photo.refresh_from_db()
    assert photo.state == State.REMOVED  # soft removal: the row and the file stay
    assert default_storage.exists(photo.image_name)
    assert not on_wall(viewer, photo)
    assert viewer.get(f"/community/photos/{photo.pk}/thumb.jpg").status_code == 404
    report = PhotoReport.objects.get()
    assert (report.state, report.resolved_by) == ("upheld", moderator.user)
    assert AuditEntry.objects.filter(action="photo.removed_by_moderator").exists()
    assert AuditEntry.objects.filter(action="photo.reported").exists()
    note = Notification.objects.get(user_id=poster.user_id, kind="moderation")
    assert note.body == "涉及他人隐私"


def test_approving_a_reported_photo_dismisses_the_reports(tiers, poster, moderator):
    activity = ph.wall_activity(photo_moderation=ActivityPage.PhotoModeration.POST)
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster)
    services.photo_report(member=MemberFactory(tier=tiers["gold"]), photo=photo, reason="spam")
    decide(moderator, photo, "approve")
    assert PhotoReport.objects.get().state == "dismissed"
    photo.refresh_from_db()
    assert photo.state == State.PUBLISHED


def test_captions_go_through_the_comment_keyword_rules(poster, viewer, moderator):
    keyword("weixin", "block", "禁止发布联系方式")
    keyword("广告", "censor")
    keyword("代购", "hold")
    keyword("退款", "flag")
    activity = ph.wall_activity(photo_moderation=ActivityPage.PhotoModeration.POST, photo_limit=9)
    ph.check_in(activity, poster)
    with pytest.raises(services.PhotoBlocked) as blocked:
        ph.upload(activity, poster, caption="加我 WeiXin 聊")
    assert "WeiXin" in blocked.value.message and "禁止发布联系方式" in blocked.value.message
    assert not ActivityPhoto.objects.exists()
    assert AuditEntry.objects.filter(action="photo.auto_block").exists()
    assert ModerationKeyword.objects.get(word="weixin").hits == 1
    held = ph.upload(activity, poster, caption="可以代购")
    assert held.state == State.HELD  # hold wins over post-moderation
    censored = ph.upload(activity, poster, caption="不是广告")
    assert censored.state == State.PUBLISHED and censored.caption == "不是＊＊"
    assert "不是＊＊" in viewer.get(f"/community/activities/{activity.pk}/photos/").content.decode()
    flagged = ph.upload(activity, poster, caption="要退款")
    assert flagged.state == State.PUBLISHED and flagged.flagged
    queue = moderator.get(QUEUE).content.decode()
    assert f'id="queue-photo-{held.pk}"' in queue and f'id="queue-photo-{flagged.pk}"' in queue
    assert f'id="queue-photo-{censored.pk}"' not in queue
    decide(moderator, flagged, "approve")  # reviewed: leaves the queue, stays published
    assert f'id="queue-photo-{flagged.pk}"' not in moderator.get(QUEUE).content.decode()


def test_staff_without_the_moderation_permission_get_403(poster):
    activity = ph.wall_activity()
    ph.check_in(activity, poster)
    photo = ph.upload(activity, poster)
    client = Client()
    client.force_login(staff_with())
    assert client.get(QUEUE).status_code == 403
    assert decide(client, photo, "approve").status_code == 403
    photo.refresh_from_db()
    assert photo.state == State.HELD
    member = Client()
    member.force_login(poster.user)
    assert decide(member, photo, "approve").status_code in (302, 403)
    photo.refresh_from_db()
    assert photo.state == State.HELD


def test_post_moderation_earns_the_points_when_the_photo_shows(poster):
    EarningRule.objects.create(name="活动照片", trigger="photo_approved", points=10, cap_lifetime=2)
    activity = ph.wall_activity(photo_moderation=ActivityPage.PhotoModeration.POST, photo_limit=3)
    ph.check_in(activity, poster)
    photos = [ph.upload(activity, poster) for _n in range(3)]
    assert {photo.state for photo in photos} == {State.PUBLISHED}
    entries = PointsEntry.objects.filter(account__member=poster, rule__trigger="photo_approved")
    assert sorted(e.amount for e in entries) == [10, 10]  # the lifetime cap of two
    services.photo_process(photo_id=photos[0].pk)  # a redelivered task earns nothing more
    assert entries.count() == 2
