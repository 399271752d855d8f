"""Posting a confirmed share to the Weibo sandbox: what reaches Weibo, and every error class.

The service is called directly (the Celery task is a thin wrapper around it); what Weibo received
is read back from the sandbox's own record.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from core.models import Notification
from loyalty.models import EarningRule, PointsAccount, PointsEntry, Trigger
from members.models import Member
from share import services
from share.models import Share, ShareAttempt
from share.subjects import subject_for
from tests.share.conftest import make_sharer, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(sandbox, club):
    gold = club["tiers"]["gold"]
    member = make_sharer(sandbox, uid="1001000012", tier=gold, followers=2316)
    trip = club["pages"]["milan-trip"]
    register(member, trip)
    return {"member": member, "trip": trip, "sandbox": sandbox}


def confirm(member, subject, *, text=None, with_card=False, rip="203.0.113.7") -> Share:
    proposed, _token, _link = services.draft_text(member=member, subject=subject)
    return services.share_confirm(
        member=member, subject=subject, text=text if text is not None else proposed,
        with_card=with_card, show_name=True, rip=rip, confirmation_key=uuid.uuid4().hex,
    )  # fmt: skip


def test_a_confirmed_share_reaches_weibo_with_text_link_and_rip(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    assert share.state == Share.State.QUEUED
    assert sandbox.posts() == []  # nothing is posted by confirming alone

    assert services.share_post(share_id=share.pk) == Share.State.SENT

    posts = sandbox.posts(uid="1001000012")
    assert len(posts) == 1
    post = posts[0]
    assert post["text"] == share.text
    assert f"/s/{share.token}/" in post["text"]
    assert "米兰之旅 2026" in post["text"]
    assert post["rip"] == "203.0.113.7"
    share.refresh_from_db()
    assert share.weibo_status_id == post["idstr"]
    assert share.sent_at is not None
    assert share.followers_at_share == 2316
    assert Notification.objects.filter(user=member.user, kind=Notification.Kind.SHARE_SENT).exists()


def test_running_the_task_again_does_not_post_again(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    services.share_post(share_id=share.pk)
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    assert len(sandbox.posts()) == 1


def test_confirming_the_same_page_twice_gives_one_share(setup):
    member, trip = setup["member"], setup["trip"]
    subject = subject_for(member, kind="item", ref=trip.pk)
    text, _token, _link = services.draft_text(member=member, subject=subject)
    key = uuid.uuid4().hex
    kwargs = dict(member=member, subject=subject, text=text, with_card=False, show_name=True,
                  rip="203.0.113.7", confirmation_key=key)  # fmt: skip
    first = services.share_confirm(**kwargs)
    second = services.share_confirm(**kwargs)
    assert first.pk == second.pk
    assert Share.objects.count() == 1


@pytest.mark.parametrize(
    ("text_change", "message"),
    [
        (lambda text, link: text.replace(link, ""), "必须包含俱乐部链接"),
        (lambda text, link: text + " #米兰#", "#话题#"),
        (lambda text, link: text + "长" * 140, "超过微博的 140 字上限"),
        (lambda text, link: "   ", "请填写分享文字"),
    ],
)
def test_text_weibo_would_refuse_is_refused_before_queueing(setup, text_change, message):
    from core.errors import DomainError

    member, trip = setup["member"], setup["trip"]
    subject = subject_for(member, kind="item", ref=trip.pk)
    text, _token, link = services.draft_text(member=member, subject=subject)
    with pytest.raises(DomainError, match=message):
        confirm(member, subject, text=text_change(text, link))
    assert Share.objects.count() == 0


@override_settings(SHARE_RETRY_BASE_DELAY=1)
@pytest.mark.parametrize(
    ("code", "outcome"),
    [(10001, "retry"), (10023, "limited"), (10024, "limited"), (20016, "limited")],
)
def test_transient_errors_are_retried_and_then_sent(setup, code, outcome):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.fault(mode="error", error_code=code, count=1)

    assert services.share_post(share_id=share.pk) == Share.State.QUEUED
    share.refresh_from_db()
    assert share.last_error_code == code
    assert share.attempts == 1
    assert share.next_attempt_at is not None
    assert sandbox.posts() == []

    share.next_attempt_at = None  # the countdown has passed
    share.save(update_fields=["next_attempt_at"])
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    assert len(sandbox.posts()) == 1
    outcomes = list(ShareAttempt.objects.filter(share=share).values_list("outcome", flat=True))
    assert outcomes == [outcome, "sent"]  # rate limits wait for Weibo's window to turn


@override_settings(SHARE_RETRY_BASE_DELAY=1)
def test_a_bare_5xx_page_and_a_dropped_connection_are_transient(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.fault(mode="http", http_status=502, count=1)
    assert services.share_post(share_id=share.pk) == Share.State.QUEUED
    Share.objects.filter(pk=share.pk).update(next_attempt_at=None)
    sandbox.fault(mode="drop", count=1)
    assert services.share_post(share_id=share.pk) == Share.State.QUEUED
    share.refresh_from_db()
    assert share.in_doubt  # a dropped answer may hide a post
    Share.objects.filter(pk=share.pk).update(next_attempt_at=None)
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    assert len(sandbox.posts()) == 1


@override_settings(SHARE_MAX_ATTEMPTS=3, SHARE_RETRY_BASE_DELAY=1)
def test_retries_stop_after_the_limit_with_the_reason_recorded(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.fault(mode="error", error_code=10002, count=10)
    for _ in range(3):
        Share.objects.filter(pk=share.pk).update(next_attempt_at=None)
        services.share_post(share_id=share.pk)
    share.refresh_from_db()
    assert share.state == Share.State.FAILED
    assert share.attempts == 3
    assert share.last_error_code == 10002
    assert Notification.objects.filter(user=member.user, kind=Notification.Kind.SHARE_FAILED)


def test_retry_delays_grow_and_stay_below_the_visibility_timeout(settings):
    delays = [services.retry_delay(attempt) for attempt in range(1, 12)]
    assert delays[1] > delays[0]
    assert max(delays) <= settings.SHARE_RETRY_MAX_DELAY * 1.2
    assert settings.SHARE_RETRY_MAX_DELAY * 1.2 < settings.CELERY_VISIBILITY_TIMEOUT


@pytest.mark.parametrize("code", [10017, 20012, 20017, 20018, 20019, 20020, 20021])
def test_content_errors_fail_at_once_with_the_reason(setup, code):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.fault(mode="error", error_code=code, count=1)
    assert services.share_post(share_id=share.pk) == Share.State.FAILED
    share.refresh_from_db()
    assert share.last_error_code == code
    assert share.attempts == 1
    assert sandbox.posts() == []
    failed = Notification.objects.get(user=member.user, kind=Notification.Kind.SHARE_FAILED)
    assert failed.body  # the member is told why
    # Content Weibo refused is not retried by the member's "retry" either: they must edit it.
    from core.errors import DomainError

    with pytest.raises(DomainError):
        services.share_retry(member=member, share_id=share.pk)


@pytest.mark.parametrize("code", [21301, 21327, 21332])
def test_token_errors_wait_for_reauthorisation_then_resume(setup, code):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.fault(mode="error", error_code=code, count=1)

    assert services.share_post(share_id=share.pk) == Share.State.NEEDS_REAUTH
    member.refresh_from_db()
    assert member.weibo_token_state == Member.TokenState.NEEDS_REAUTH
    assert Notification.objects.filter(user=member.user, kind=Notification.Kind.SHARE_REAUTH)
    # Nothing happens while the token is unusable, however often the sweeper runs.
    services.shares_sweep()
    assert services.share_post(share_id=share.pk) == Share.State.NEEDS_REAUTH
    assert sandbox.posts() == []

    # The member authorises again (a login stores a fresh token): the sweeper resumes the share.
    from core import crypto

    Member.objects.filter(pk=member.pk).update(
        weibo_token_encrypted=crypto.encrypt(sandbox.token_for(member.weibo_uid)),
        weibo_token_state=Member.TokenState.VALID,
    )
    assert services.shares_sweep()["reauthorised"] == 1
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    assert len(sandbox.posts()) == 1


def test_an_expired_token_at_weibo_is_found_out_and_resumed(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.expire_tokens(member.weibo_uid)
    assert services.share_post(share_id=share.pk) == Share.State.NEEDS_REAUTH
    assert ShareAttempt.objects.get(share=share).error_code == 21327


def test_an_attempt_lost_in_flight_is_settled_by_weibos_repeat_check(setup):
    """The first attempt reached Weibo but its answer was lost: the second must not post again."""
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    # Post the exact text as the lost attempt would have, then mark the share as in flight with
    # an expired lease (what a killed worker leaves behind).
    from members.weibo import client as weibo

    weibo.statuses_share(access_token=sandbox.token_for(member.weibo_uid), status=share.text,
                         rip=share.rip)  # fmt: skip
    from datetime import timedelta

    from django.utils import timezone

    Share.objects.filter(pk=share.pk).update(
        state=Share.State.SENDING, attempts=1, lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.shares_sweep()["dead_worker"] == 1
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    assert len(sandbox.posts()) == 1
    attempt = ShareAttempt.objects.get(share=share, number=2)
    assert attempt.outcome == ShareAttempt.Outcome.CONFIRMED_REPEAT


def test_a_share_in_flight_under_a_live_lease_is_left_alone(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    from datetime import timedelta

    from django.utils import timezone

    Share.objects.filter(pk=share.pk).update(
        state=Share.State.SENDING, attempts=1, lease_until=timezone.now() + timedelta(seconds=60)
    )
    assert services.share_post(share_id=share.pk) == "busy"
    assert services.shares_sweep()["dead_worker"] == 0
    assert sandbox.posts() == []


def test_the_same_item_shared_twice_earns_one_pending_reward(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    EarningRule.objects.create(name="分享活动", trigger=Trigger.SHARE_VERIFIED, points=50,
                               pending_days=7, cap_per_day=5, cap_per_month=20)  # fmt: skip
    subject = subject_for(member, kind="item", ref=trip.pk)
    first = confirm(member, subject)
    services.share_post(share_id=first.pk)
    second = confirm(member, subject, text=f"再推荐一次！{first.link}")
    assert services.share_post(share_id=second.pk) == Share.State.SENT
    assert len(sandbox.posts()) == 2

    entries = PointsEntry.objects.filter(account__member=member)
    assert entries.count() == 1
    account = PointsAccount.objects.get(member=member)
    assert account.pending == 50  # pending until the hold ends
    assert account.balance == 0


def test_the_reward_waits_for_weibo_confirmation(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    EarningRule.objects.create(name="分享活动", trigger=Trigger.SHARE_VERIFIED, points=50)
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk))
    sandbox.fault(mode="error", error_code=20021, count=1)
    services.share_post(share_id=share.pk)
    assert not PointsEntry.objects.filter(account__member=member).exists()


def test_only_what_the_member_may_share_can_be_shared(setup, club):
    from share.subjects import NotShareable

    member = setup["member"]
    tasting = club["pages"]["shanghai-tasting"]  # an activity the member did not register for
    with pytest.raises(NotShareable, match="报名"):
        subject_for(member, kind="item", ref=tasting.pk)
    post = club["pages"]["behind-the-collection"]  # not marked shareable by staff
    with pytest.raises(NotShareable):
        subject_for(member, kind="item", ref=post.pk)
    platinum_only = club["pages"]["platinum-watch-preview"]
    with pytest.raises(NotShareable):
        subject_for(member, kind="item", ref=platinum_only.pk)
    member.state = Member.State.SUSPENDED
    with pytest.raises(NotShareable):
        subject_for(member, kind="item", ref=setup["trip"].pk)


def test_the_card_is_posted_as_the_picture_exactly_as_confirmed(setup):
    import hashlib

    from django.core.files.storage import default_storage

    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk), with_card=True)
    assert share.card_name
    services.share_post(share_id=share.pk)
    post = sandbox.posts()[0]
    with default_storage.open(share.card_name, "rb") as handle:
        card = handle.read()
    assert post["pic"]["content_type"] == "image/jpeg"
    assert post["pic"]["sha256"] == hashlib.sha256(card).hexdigest()
    assert sandbox.pic(post["id"]) == card
