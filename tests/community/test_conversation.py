"""The conversation around a comment, as its author experiences it: replies reach them, and the
points a comment earned go when the comment goes (and come back once if it is approved again).
"""

from __future__ import annotations

import pytest

from community import demo
from community.interaction import services
from community.models import CommunityHome
from community.models_interaction import Comment, ModerationKeyword
from core.events import user_group
from core.models import Notification, NotificationPreference
from loyalty.models import EarningRule, EntryKind, PendingAward, PointsAccount, PointsEntry
from loyalty.services import points_reverse_for_event, points_spend
from tests.community.test_interaction import events_during, html_of, post_comment, publish_item
from tests.community.test_moderation import staff_with
from tests.factories import MemberFactory, standard_tiers

pytestmark = pytest.mark.django_db

QUEUE_URL = "/admin/community/moderation/"


@pytest.fixture(autouse=True)
def staff_mfa_not_required(settings):
    settings.STAFF_REQUIRE_MFA = False


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def gold_post(tiers):
    demo.load_structure()
    return publish_item(CommunityHome.objects.get(), min_tier=tiers["gold"])


@pytest.fixture
def author(tiers):
    return MemberFactory(tier=tiers["gold"], display_name="楼主")


@pytest.fixture
def replier(tiers):
    return MemberFactory(tier=tiers["gold"], display_name="回复的人")


def replies_to(member) -> list[Notification]:
    return list(Notification.objects.filter(user=member.user, kind="comment_reply"))


def decide(client, comment, decision: str, reason: str = ""):
    response = client.post(
        f"{QUEUE_URL}{comment.pk}/decide/", {"decision": decision, "reason": reason}, follow=True
    )
    return html_of(response)


# --- replies ------------------------------------------------------------------------------------


def test_a_reply_tells_the_comment_author_live_once(
    client, gold_post, author, replier, django_capture_on_commit_callbacks
):
    top = services.comment_create(member=author, page=gold_post, body="秀场的灯光太美了")
    client.force_login(replier.user)

    def reply():
        with django_capture_on_commit_callbacks(execute=True):
            html = html_of(post_comment(client, gold_post, "同意！", parent=top.pk))
        assert "评论已发布。" in html

    events = events_during([user_group(author.user_id)], reply, expect=1)
    reply_row = Comment.objects.get(parent=top)
    assert [event["kind"] for event in events] == ["comment_reply"]
    assert "回复的人" in events[0]["title"] and gold_post.title in events[0]["title"]
    assert events[0]["link"] == f"{gold_post.url}#comment-{reply_row.pk}"
    assert events[0]["body"] == "同意！"

    # The author finds it in their notification list too.
    client.force_login(author.user)
    assert "回复了您的评论" in html_of(client.get("/notifications/"))
    # Editing the reply, or the same reply published again, tells nobody twice.
    services.comment_edit(member=replier, comment=reply_row, body="同意！！")
    assert len(replies_to(author)) == 1
    assert replies_to(replier) == []


def test_replying_to_oneself_or_while_muted_notifies_nobody(gold_post, author, replier):
    top = services.comment_create(member=author, page=gold_post, body="自问")
    services.comment_create(member=author, page=gold_post, body="自答", parent=top)
    assert replies_to(author) == []

    NotificationPreference.objects.create(user=author.user, kind="comment_reply")
    services.comment_create(member=replier, page=gold_post, body="我来答", parent=top)
    assert replies_to(author) == []


def test_a_reply_that_names_the_author_tells_them_once_as_a_reply(
    gold_post, author, replier, tiers
):
    author.mention_handle = "louzhu"  # as their Weibo login would set it
    author.weibo_screen_name = "LouZhu"
    author.save(update_fields=["mention_handle", "weibo_screen_name"])
    top = services.comment_create(member=author, page=gold_post, body="有人去吗")
    services.comment_create(member=replier, page=gold_post, body="@LouZhu 我去", parent=top)
    kinds = list(Notification.objects.filter(user=author.user).values_list("kind", flat=True))
    assert kinds == ["comment_reply"]


def test_an_author_who_can_no_longer_read_the_item_hears_nothing(gold_post, author, replier, tiers):
    top = services.comment_create(member=author, page=gold_post, body="金卡时写的")
    author.tier = tiers["silver"]
    author.save(update_fields=["tier"])
    services.comment_create(member=replier, page=gold_post, body="回复", parent=top)
    assert replies_to(author) == []


def test_a_held_reply_tells_the_author_when_a_moderator_approves_it(
    client, gold_post, author, replier, django_capture_on_commit_callbacks
):
    ModerationKeyword.objects.create(word="代购", action="hold")
    top = services.comment_create(member=author, page=gold_post, body="求推荐")
    held = services.comment_create(member=replier, page=gold_post, body="可以找代购", parent=top)
    assert held.state == "held" and replies_to(author) == []

    client.force_login(staff_with("community.change_comment"))

    def approve():
        with django_capture_on_commit_callbacks(execute=True):
            assert "已通过评论" in decide(client, held, "approve")

    events = events_during([user_group(author.user_id)], approve, expect=1)
    assert [event["kind"] for event in events] == ["comment_reply"]
    assert len(replies_to(author)) == 1


# --- points of a removed comment ----------------------------------------------------------------


@pytest.fixture
def comment_rule():
    return EarningRule.objects.create(name="发表评论", trigger="comment_approved", points=5)


def balance(member) -> int:
    account = PointsAccount.objects.filter(member=member).first()
    return account.balance if account else 0


def test_a_removed_comment_takes_its_points_back_and_re_approval_gives_them_once(
    client, gold_post, author, comment_rule, django_capture_on_commit_callbacks
):
    comment = services.comment_create(member=author, page=gold_post, body="值得加分的评论")
    assert balance(author) == 5
    moderator = staff_with("community.change_comment")
    client.force_login(moderator)

    def remove():
        with django_capture_on_commit_callbacks(execute=True):
            decide(client, comment, "reject", "与内容无关")

    events = events_during([user_group(author.user_id)], remove, expect=3)
    assert balance(author) == 0
    (reversal,) = PointsEntry.objects.filter(kind=EntryKind.REVERSE)
    earn = PointsEntry.objects.get(kind=EntryKind.EARN)
    assert reversal.reverses == earn and reversal.amount == -5
    assert reversal.idempotency_key == f"undo:r{comment_rule.pk}:comment:{comment.pk}"
    assert reversal.actor == moderator
    points_event = next(e for e in events if e.get("kind") == "points_awarded")
    assert points_event["title"] == "已收回 5 积分" and gold_post.title in points_event["body"]

    # The member sees it on their points page.
    client.force_login(author.user)
    assert "已收回 5 积分" in html_of(client.get("/notifications/"))

    # Taking back again changes nothing (a repeated call, or the same decision twice).
    assert points_reverse_for_event(
        member=author, trigger="comment_approved", natural_key=f"comment:{comment.pk}",
        reason="重复",
    ) == 0  # fmt: skip
    assert balance(author) == 0 and PointsEntry.objects.count() == 2

    client.force_login(moderator)
    comment.refresh_from_db()
    assert "这条评论当前的状态不能进行此操作。" in decide(client, comment, "reject", "再删一次")
    assert balance(author) == 0 and PointsEntry.objects.count() == 2


def test_a_rejected_comment_approved_later_earns_once_more(client, gold_post, author, comment_rule):
    """Published (5 points), edited into a held word, rejected (points back), approved after
    all: one new award, under the comment's second round; deleting it takes that back too."""
    ModerationKeyword.objects.create(word="代购", action="hold")
    comment = services.comment_create(member=author, page=gold_post, body="正常评论")
    comment = services.comment_edit(member=author, comment=comment, body="改成代购")
    assert comment.state == "held" and balance(author) == 5
    client.force_login(staff_with("community.change_comment"))
    decide(client, comment, "reject", "不能提代购")
    assert balance(author) == 0

    comment.refresh_from_db()
    assert "已通过评论" in decide(client, comment, "approve", "误判")
    comment.refresh_from_db()
    assert comment.state == "published" and balance(author) == 5
    again = PointsEntry.objects.filter(kind=EntryKind.EARN).order_by("pk").last()
    assert again.idempotency_key == f"award:r{comment_rule.pk}:comment:{comment.pk}#2"

    services.comment_withdraw(member=author, comment=comment)  # now the author deletes it
    services.comment_withdraw(member=author, comment=comment)
    assert balance(author) == 0
    assert PointsEntry.objects.filter(kind=EntryKind.REVERSE).count() == 2
    account = PointsAccount.objects.get(member=author)
    total = sum(PointsEntry.objects.filter(account=account).values_list("amount", flat=True))
    assert account.balance == total == 0


def test_author_deleting_a_comment_loses_its_points_but_keeps_others(
    gold_post, author, comment_rule
):
    kept = services.comment_create(member=author, page=gold_post, body="留着的")
    gone = services.comment_create(member=author, page=gold_post, body="删掉的")
    assert balance(author) == 10
    services.comment_withdraw(member=author, comment=gone)
    assert balance(author) == 5
    assert kept.state == "published"
    assert Notification.objects.filter(user=author.user, title="已收回 5 积分").count() == 1


def test_points_already_spent_are_taken_back_as_far_as_the_balance_goes(
    gold_post, author, comment_rule
):
    comment = services.comment_create(member=author, page=gold_post, body="加分")
    points_spend(member=author, amount=3, reason="兑换", idempotency_key="spent")
    services.comment_withdraw(member=author, comment=comment)
    assert balance(author) == 0  # never below zero
    assert PointsEntry.objects.get(kind=EntryKind.REVERSE).amount == -2
    assert Notification.objects.filter(user=author.user, title="已收回 2 积分").exists()


def test_nothing_left_to_take_back_means_no_second_award_on_re_approval(
    client, gold_post, author, comment_rule
):
    comment = services.comment_create(member=author, page=gold_post, body="加分")
    points_spend(member=author, amount=5, reason="兑换", idempotency_key="spent-all")
    client.force_login(staff_with("community.change_comment"))
    decide(client, comment, "reject", "违规")
    assert not PointsEntry.objects.filter(kind=EntryKind.REVERSE).exists()
    comment.refresh_from_db()
    decide(client, comment, "approve", "误删")
    assert balance(author) == 0
    assert PointsEntry.objects.filter(kind=EntryKind.EARN).count() == 1


def test_pending_comment_points_are_withdrawn_not_reversed(gold_post, author):
    EarningRule.objects.create(
        name="评论（待确认）", trigger="comment_approved", points=8, pending_days=7
    )
    comment = services.comment_create(member=author, page=gold_post, body="待确认积分")
    account = PointsAccount.objects.get(member=author)
    assert (account.balance, account.pending) == (0, 8)
    services.comment_withdraw(member=author, comment=comment)
    account.refresh_from_db()
    assert (account.balance, account.pending) == (0, 0)
    assert PendingAward.objects.get().state == PendingAward.State.CANCELLED
    assert not PointsEntry.objects.filter(kind=EntryKind.REVERSE).exists()
