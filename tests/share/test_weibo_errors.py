"""Each class of Weibo error, played by the sandbox: what the member sees and how often we asked.

Weibo's ``error_code`` decides (``members.weibo.errors``), never the HTTP status: several faults
below come with a status that would mislead a status-based client.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from core.models import Notification
from members.weibo import errors as weibo_errors
from members.weibo.client import WeiboError
from share import services
from share.models import Share, ShareAttempt
from share.subjects import subject_for
from tests.share.conftest import make_sharer, register

pytestmark = pytest.mark.django_db

SHARE_PATH = "/2/statuses/share.json"


@pytest.fixture
def setup(sandbox, club):
    member = make_sharer(sandbox, uid="1001000012", tier=club["tiers"]["gold"])
    trip = club["pages"]["milan-trip"]
    register(member, trip)
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.force_login(member.user)
    return {"member": member, "trip": trip, "sandbox": sandbox, "client": client}


def confirm(member, trip) -> Share:
    subject = subject_for(member, kind="item", ref=trip.pk)
    text, _token, _link = services.draft_text(member=member, subject=subject)
    return services.share_confirm(
        member=member, subject=subject, text=text, with_card=False, show_name=True,
        rip="203.0.113.7", confirmation_key=uuid.uuid4().hex,
    )  # fmt: skip


def share_calls(sandbox) -> int:
    calls = requests.get(f"{sandbox.base}/_sandbox/calls", params={"path": SHARE_PATH}, timeout=5)
    return len(calls.json())


def run_until_settled(share: Share, limit: int = 20) -> str:
    """Run the posting task as the worker would, each time the share is due, until it stops."""
    state = ""
    for _ in range(limit):
        Share.objects.filter(pk=share.pk, state=Share.State.QUEUED).update(next_attempt_at=None)
        state = services.share_post(share_id=share.pk)
        if state != Share.State.QUEUED:
            return state
    return state


def my_shares(client) -> str:
    response = client.get("/share/mine/")
    assert response.status_code == 200
    return response.content.decode()


def failure_notice(member) -> Notification:
    return Notification.objects.get(user=member.user, kind=Notification.Kind.SHARE_FAILED)


@pytest.mark.parametrize(
    ("code", "http_status", "reason"),
    [
        (10016, 500, "发往微博的请求有误"),  # missing parameter: permanent, whatever the status
        (21321, 403, "尚未通过审核"),  # unaudited app over its user limit
        (20021, 400, "微博认为内容违规"),  # content refused
        (10017, 400, "必须包含本站链接"),  # the link is not on the safe domain
    ],
)
def test_permanent_errors_fail_at_once_and_offer_editing(setup, code, http_status, reason):
    member, trip, sandbox, client = setup.values()
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=code, http_status=http_status, count=10)

    assert run_until_settled(share) == Share.State.FAILED
    assert share_calls(sandbox) == 1  # asked once: the same request gets the same answer
    share.refresh_from_db()
    assert share.attempts == 1

    body = failure_notice(member).body
    assert reason in body
    assert "没有重试" in body and "多次" not in body and "已尝试" not in body

    html = my_shares(client)
    assert reason in html
    assert f"错误码 {code}" in html
    assert f'href="/share/new/?kind=item&amp;ref={trip.pk}&amp;from={share.pk}"' in html
    assert f"/share/{share.pk}/retry/" not in html  # no 重试 for what will be refused again

    from core.errors import DomainError

    with pytest.raises(DomainError):
        services.share_retry(member=member, share_id=share.pk)


def test_editing_a_refused_share_starts_from_its_text_and_reason(setup):
    member, trip, sandbox, client = setup.values()
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=20020, count=1)
    run_until_settled(share)

    response = client.get(f"/share/new/?kind=item&ref={trip.pk}&from={share.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "微博认为内容含有广告" in html
    text = re.search(r'<textarea id="share-text"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    assert "米兰之旅 2026" in text


@override_settings(SHARE_MAX_ATTEMPTS=3, SHARE_RETRY_BASE_DELAY=1)
def test_transient_errors_are_retried_with_backoff_and_the_member_told_how_often(setup):
    member, trip, sandbox, client = setup.values()
    share = confirm(member, trip)
    # A 400 would read as "the request was wrong" to a status-based client; 10001 is Weibo's
    # system error and is retried.
    sandbox.fault(mode="error", error_code=10001, http_status=400, count=10)

    first = services.share_post(share_id=share.pk)
    assert first == Share.State.QUEUED
    share.refresh_from_db()
    assert share.next_attempt_at > timezone.now()
    html = my_shares(client)
    assert "微博服务暂时不可用" in html and "已尝试 1 次，稍后自动重试" in html

    assert run_until_settled(share) == Share.State.FAILED
    assert share_calls(sandbox) == 3
    body = failure_notice(member).body
    assert "已尝试 3 次仍未成功" in body and "没有重试" not in body

    html = my_shares(client)
    assert f"/share/{share.pk}/retry/" in html  # worth another go later
    assert "修改后重新分享" not in html


def test_token_errors_ask_to_reauthorise_and_say_so(setup):
    member, trip, sandbox, client = setup.values()
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=21327, http_status=400, count=5)

    assert run_until_settled(share) == Share.State.NEEDS_REAUTH
    assert share_calls(sandbox) == 1
    notice = Notification.objects.get(user=member.user, kind=Notification.Kind.SHARE_REAUTH)
    assert "重新授权" in notice.title and "微博授权已过期" in notice.body
    assert not Notification.objects.filter(kind=Notification.Kind.SHARE_FAILED).exists()
    html = my_shares(client)
    assert "重新授权后会自动发布" in html
    assert 'data-testid="reauthorise"' in html


def test_rate_limits_wait_for_the_next_hour_without_asking_again(setup):
    member, trip, sandbox, client = setup.values()
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=10023, count=5)
    before = timezone.now()

    assert services.share_post(share_id=share.pk) == Share.State.QUEUED
    share.refresh_from_db()
    next_hour = before.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    assert next_hour <= share.next_attempt_at <= next_hour + timedelta(minutes=2)
    assert ShareAttempt.objects.get(share=share).outcome == ShareAttempt.Outcome.RATE_LIMITED
    # Delivered early (a redelivery, a sweep): not due, so Weibo is not asked again.
    assert services.share_post(share_id=share.pk) == "not_due"
    assert share_calls(sandbox) == 1
    html = my_shares(client)
    assert "已达到微博的发布频率上限" in html
    assert timezone.localtime(share.next_attempt_at).strftime("%H:%M") in html
    assert not Notification.objects.filter(kind=Notification.Kind.SHARE_FAILED).exists()

    sandbox.clear_faults()
    assert run_until_settled(share) == Share.State.SENT
    assert share_calls(sandbox) == 2


@override_settings(SHARE_MAX_RATE_LIMIT_WAITS=2)
def test_a_share_kept_back_by_the_rate_limit_for_too_long_says_so(setup):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=10024, count=10)
    assert run_until_settled(share) == Share.State.FAILED
    assert share_calls(sandbox) == 3
    body = failure_notice(member).body
    assert "频率" in body and "2 次" in body and "没有重试" not in body


@pytest.mark.parametrize(
    ("code", "expected"),
    [(10099, Share.State.QUEUED), (20999, Share.State.FAILED), (21399, Share.State.NEEDS_REAUTH)],
)
def test_codes_missing_from_the_table_are_decided_by_their_class(setup, code, expected):
    member, trip, sandbox = setup["member"], setup["trip"], setup["sandbox"]
    share = confirm(member, trip)
    # The status points the other way each time: 5xx for a permanent one, 4xx for the others.
    status = 503 if expected == Share.State.FAILED else 400
    sandbox.fault(mode="error", error_code=code, http_status=status, count=1)
    assert services.share_post(share_id=share.pk) == expected


def test_the_reason_is_shown_in_the_readers_language(setup):
    member, trip, sandbox, client = setup.values()
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=20019, count=1)
    run_until_settled(share)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = my_shares(client)
    assert "duplicates your previous Weibo post" in html
    assert "与你上一条微博内容重复" not in html
    assert "repeat content!" not in html  # Weibo's own wording is for the log, not the member


def test_every_documented_code_has_a_decision_and_a_reason():
    codes = {rule.code for rule in weibo_errors.table()}
    documented = (10001, 10002, 10003, 10009, 10016, 10017, 10022, 10023, 10024, 20016, 20019,
                  21301, 21314, 21315, 21316, 21317, 21319, 21321, 21327, 21331, 21332,
                  21337)  # fmt: skip
    for code in documented:
        assert code in codes
    for rule in weibo_errors.table():
        assert str(rule.reason)
    assert {weibo_errors.classify(c).action for c in (21301, 21315, 21327, 21332)} == {"reauth"}
    assert weibo_errors.classify(20016).action == "rate_limit"
    assert weibo_errors.classify(21331).action == "retry"
    # Login and token checks read the same table through the client's error.
    assert WeiboError(code=21321, message="").rule.action == "fail"
    assert WeiboError(code=21332, message="").is_token_error


def test_a_member_reading_in_english_is_told_in_english(setup):
    """The worker writes the notification in the language the member chose on the site."""
    member, trip, sandbox, client = setup.values()
    assert client.get("/i18n/en/?next=/share/mine/").status_code == 302
    member.refresh_from_db()
    assert member.language == "en"
    share = confirm(member, trip)
    sandbox.fault(mode="error", error_code=10016, http_status=500, count=10)

    assert run_until_settled(share) == Share.State.FAILED
    notice = failure_notice(member)
    assert notice.title.startswith("Share failed to post")
    assert "Our request to Weibo was faulty" in notice.body
    assert "分享" not in notice.title

    # Another member, who never chose, is written to in the site's language.
    other = make_sharer(sandbox, uid="1001000013", tier=member.tier)
    register(other, trip)
    other_share = confirm(other, trip)
    sandbox.fault(mode="error", error_code=10016, http_status=500, count=10)
    run_until_settled(other_share)
    assert failure_notice(other).title.startswith("分享未能发布")
