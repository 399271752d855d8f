"""A post the member deletes on Weibo gives back its share points, once, and nothing else does."""

from __future__ import annotations

import pytest
import requests

from core.models import AuditEntry, Notification
from loyalty.models import EarningRule, PointsAccount, PointsEntry, Trigger
from share import services
from share.deleted_posts import share_post_check, shares_to_check
from share.models import Share
from share.subjects import subject_for
from share.tasks import check_deleted_posts
from tests.share.test_posting import confirm, setup  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def delete_on_weibo(sandbox, share: Share) -> None:
    share.refresh_from_db()
    response = requests.post(
        f"{sandbox.base}/_sandbox/posts/{share.weibo_status_id}/delete", timeout=5
    )
    response.raise_for_status()


def shared(setup, *, text=None) -> Share:  # noqa: F811
    member, trip = setup["member"], setup["trip"]
    share = confirm(member, subject_for(member, kind="item", ref=trip.pk), text=text)
    assert services.share_post(share_id=share.pk) == Share.State.SENT
    share.refresh_from_db()
    return share


def figures(member) -> tuple[int, int]:
    account = PointsAccount.objects.get(member=member)
    return account.balance, account.pending


def test_deleting_the_post_on_weibo_takes_back_its_points(setup):  # noqa: F811
    member, sandbox = setup["member"], setup["sandbox"]
    EarningRule.objects.create(name="分享活动", trigger=Trigger.SHARE_VERIFIED, points=50)
    share = shared(setup)
    assert figures(member) == (50, 0)

    assert check_deleted_posts() == 0  # still on Weibo: nothing changes
    assert figures(member) == (50, 0)
    assert shares_to_check() == []  # read once today

    delete_on_weibo(sandbox, share)
    Share.objects.filter(pk=share.pk).update(post_checked_at=None)  # a day later
    assert check_deleted_posts() == 1
    assert figures(member) == (0, 0)
    share.refresh_from_db()
    assert share.deleted_on_weibo_at is not None
    reversal = PointsEntry.objects.get(account__member=member, kind="reverse")
    assert reversal.amount == -50 and reversal.idempotency_key.startswith("undo:")
    assert "微博上的分享已删除" in reversal.reason
    notice = Notification.objects.filter(user=member.user).order_by("-id").first()
    assert "50" in notice.title
    assert AuditEntry.objects.filter(action="share.deleted_on_weibo").count() == 1

    # Running again, or a redelivered task, takes nothing more.
    assert share_post_check(share_id=share.pk) is True
    assert check_deleted_posts() == 0
    assert figures(member) == (0, 0)
    assert PointsEntry.objects.filter(account__member=member, kind="reverse").count() == 1
    calls = requests.get(f"{sandbox.base}/_sandbox/calls",
                         params={"path": "/2/statuses/show.json"}, timeout=5).json()  # fmt: skip
    assert len(calls) == 2  # read while it stood, read once when it was gone


def test_pending_share_points_are_withdrawn(setup):  # noqa: F811
    member, sandbox = setup["member"], setup["sandbox"]
    EarningRule.objects.create(name="分享活动", trigger=Trigger.SHARE_VERIFIED, points=50,
                               pending_days=7)  # fmt: skip
    share = shared(setup)
    assert figures(member) == (0, 50)
    delete_on_weibo(sandbox, share)
    assert share_post_check(share_id=share.pk) is True
    assert figures(member) == (0, 0)


def test_the_reward_stays_while_another_post_of_the_same_thing_stands(setup):  # noqa: F811
    member, sandbox = setup["member"], setup["sandbox"]
    EarningRule.objects.create(name="分享活动", trigger=Trigger.SHARE_VERIFIED, points=50)
    first = shared(setup)
    second = shared(setup, text=f"再推荐一次！{first.link}")
    delete_on_weibo(sandbox, second)
    assert share_post_check(share_id=second.pk) is True
    assert figures(member) == (50, 0)  # the first post still earns it
    delete_on_weibo(sandbox, first)
    assert share_post_check(share_id=first.pk) is True
    assert figures(member) == (0, 0)


def test_a_weibo_error_or_a_lost_token_decides_nothing(setup):  # noqa: F811
    member, sandbox = setup["member"], setup["sandbox"]
    EarningRule.objects.create(name="分享活动", trigger=Trigger.SHARE_VERIFIED, points=50)
    share = shared(setup)
    sandbox.fault(path="/2/statuses/show.json", mode="error", error_code=10001, count=1)
    assert share_post_check(share_id=share.pk) is False
    sandbox.expire_tokens(member.weibo_uid)
    assert share_post_check(share_id=share.pk) is False
    share.refresh_from_db()
    assert share.deleted_on_weibo_at is None
    assert figures(member) == (50, 0)
