"""Keyword moderation (block, censor, hold, flag on normalised Chinese text) and the moderation
queue in the Wagtail admin: decisions, bulk decisions, permissions, audit entries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from wagtail import hooks

from community import demo
from community.interaction import moderation, services
from community.models import CommunityHome
from community.models_interaction import (
    Comment,
    CommentMention,
    CommentReport,
    ModerationKeyword,
)
from core.events import STAFF_GROUP, user_group
from core.models import AuditEntry
from tests.community.test_interaction import (
    events_during,
    html_of,
    post_comment,
    publish_item,
)
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

QUEUE_URL = "/admin/community/moderation/"
TEST_URL = "/admin/community/moderation/keywords/test/"
KEYWORDS_URL = "/admin/snippets/community/moderationkeyword/"


def keyword(word: str, action: str, note: str = "") -> ModerationKeyword:
    return ModerationKeyword.objects.create(word=word, action=action, note=note)


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
def login(client):
    def as_(member):
        client.force_login(member.user)
        return client

    return as_


@pytest.fixture
def keywords():
    return {
        "block": keyword("weixin", "block", "禁止发布联系方式"),
        "censor": keyword("广告", "censor"),
        "hold": keyword("代购", "hold"),
        "flag": keyword("退款", "flag"),
    }


@pytest.fixture
def gold(tiers):
    return MemberFactory(tier=tiers["gold"], display_name="金卡作者")


def staff_with(*perms: str):
    """A staff user who may enter the admin and holds exactly ``perms`` (``app.codename``)."""
    user = UserFactory(is_staff=True)
    for perm in ("wagtailadmin.access_admin", *perms):
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def moderator(client):
    user = staff_with("community.change_comment", "community.view_moderationkeyword")
    client.force_login(user)
    return user


def hits(word: str) -> int:
    return ModerationKeyword.objects.get(word=word).hits


# --- normalisation and matching -----------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("ＷｅＩＸＩＮ", "weixin"),  # full-width and mixed case
        ("广 告", "广告"),  # a space between characters
        ("广\u200b告", "广告"),  # a zero-width space
        ("广\u3000\t告", "广告"),  # ideographic space and tab
        ("廣告", "广告"),  # traditional
        ("ＱＱ１２３", "qq123"),
    ],
)
def test_normalisation(written, expected):
    assert moderation.normalised_text(written) == expected


def test_censoring_masks_the_written_stretch_with_as_many_stars():
    rules = [moderation.Rule(1, "广告", "广告", "censor")]
    verdict = moderation.screen("这是广 告，不是廣告", rules)
    assert verdict.action == "censor"
    assert verdict.shown == "这是＊＊＊，不是＊＊"
    assert [match.written for match in verdict.matches] == ["广 告", "廣告"]


def test_strictest_action_wins():
    rules = [
        moderation.Rule(1, "退款", "退款", "flag"),
        moderation.Rule(2, "广告", "广告", "censor"),
        moderation.Rule(3, "代购", "代购", "hold"),
        moderation.Rule(4, "weixin", "weixin", "block"),
    ]
    assert moderation.screen("退款广告", rules).action == "censor"
    assert moderation.screen("退款广告代购", rules).action == "hold"
    verdict = moderation.screen("退款广告代购 加 W e i X i n", rules)
    assert verdict.action == "block" and verdict.decisive.written == "W e i X i n"
    assert moderation.screen("正常的评论", rules).action == ""


def test_keyword_normalised_form_is_unique(keywords):
    duplicate = ModerationKeyword(word="ＷＥＩＸＩＮ", action="flag")
    with pytest.raises(ValidationError):
        duplicate.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    with pytest.raises(ValidationError):
        ModerationKeyword(word=" \u200b ", action="flag").full_clean()


# --- the four actions, as the writer and the readers see them -----------------------------------


@pytest.mark.parametrize("written", ["加我weixin", "加我ＷｅＩｘｉｎ", "加我w e i x i n"])
def test_block_names_the_rule_and_saves_nothing(client, login, gold_post, gold, keywords, written):
    login(gold)
    html = html_of(post_comment(client, gold_post, written))
    assert "您的评论包含不允许发布的词语" in html
    assert written.removeprefix("加我") in html and "禁止发布联系方式" in html
    assert written in html  # the draft comes back for editing
    assert not Comment.objects.exists()
    assert hits("weixin") == 1
    entry = AuditEntry.objects.get(action="comment.auto_block")
    assert entry.actor is None and entry.actor_label == "keyword:weixin"


@pytest.mark.parametrize("written, shown", [
    ("发广告的走开", "发＊＊的走开"),
    ("发广 告的走开", "发＊＊＊的走开"),
    ("发ＡＤ广\u200b告的", "发ＡＤ＊＊＊的"),
])  # fmt: skip
def test_censor_publishes_with_stars(
    client, login, gold_post, gold, keywords, tiers, written, shown
):
    login(gold)
    html = html_of(post_comment(client, gold_post, written))
    assert "部分词语已被替换为＊" in html
    comment = Comment.objects.get()
    assert (comment.state, comment.body, comment.moderation_action) == (
        "published",
        shown,
        "censor",
    )
    assert comment.revisions.get().written == written  # the member's own words are kept
    assert hits("广告") == 1
    assert AuditEntry.objects.filter(action="comment.auto_censor").count() == 1

    login(MemberFactory(tier=tiers["gold"]))
    html = html_of(client.get(gold_post.get_url()))
    assert shown in html and written not in html


@pytest.mark.parametrize("written", ["帮忙代购", "帮忙代 购", "帮忙代購"])
def test_hold_keeps_the_comment_from_others_until_approved(
    client, login, gold_post, gold, keywords, tiers, written, django_capture_on_commit_callbacks
):
    login(gold)

    def write():
        with django_capture_on_commit_callbacks(execute=True):
            html = html_of(post_comment(client, gold_post, written))
        assert "正在等待审核" in html
        assert written in html and 'data-testid="comment-held"' in html  # the author sees it

    events = events_during([STAFF_GROUP], write, expect=1)
    assert [event["type"] for event in events] == ["comment.held"]
    comment = Comment.objects.get()
    assert comment.state == "held" and hits("代购") == 1

    login(MemberFactory(tier=tiers["platinum"]))
    html = html_of(client.get(gold_post.get_url()))
    assert written not in html and "评论（0）" in html


def test_flag_publishes_and_alerts_moderators(
    client, login, gold_post, gold, keywords, django_capture_on_commit_callbacks
):
    login(gold)

    def write():
        with django_capture_on_commit_callbacks(execute=True):
            assert "评论已发布。" in html_of(post_comment(client, gold_post, "怎么申请 退 款？"))

    events = events_during([STAFF_GROUP], write, expect=1)
    assert [(event["type"], event["keywords"]) for event in events] == [
        ("comment.flagged", ["退款"])
    ]
    comment = Comment.objects.get()
    assert (comment.state, comment.flagged, comment.body) == ("published", True, "怎么申请 退 款？")
    assert hits("退款") == 1


def test_several_words_strictest_wins_and_all_are_counted(client, login, gold_post, gold, keywords):
    login(gold)
    html = html_of(post_comment(client, gold_post, "退款广告代购"))
    assert "正在等待审核" in html
    comment = Comment.objects.get()
    assert comment.state == "held" and comment.body == "退款＊＊代购"  # censored even when held
    assert sorted(comment.matched_keywords) == ["代购", "广告", "退款"]
    assert [hits(w) for w in ("退款", "广告", "代购", "weixin")] == [1, 1, 1, 0]

    html = html_of(post_comment(client, gold_post, "退款广告代购weixin"))
    assert "禁止发布联系方式" in html and Comment.objects.count() == 1
    assert [hits(w) for w in ("退款", "广告", "代购", "weixin")] == [2, 2, 2, 1]


def test_editing_into_a_hold_word_holds_the_comment_again(client, login, gold_post, gold, keywords):
    comment = services.comment_create(member=gold, page=gold_post, body="普通的评论")
    login(gold)
    client.post(f"/interaction/comments/{comment.pk}/edit/", {"body": "改成代购"})
    comment.refresh_from_db()
    assert comment.state == "held"
    assert list(comment.revisions.values_list("written", flat=True)) == ["普通的评论", "改成代购"]
    html = html_of(client.post(f"/interaction/comments/{comment.pk}/edit/", {"body": "weixin"},
                               follow=True))  # fmt: skip
    assert "禁止发布联系方式" in html
    comment.refresh_from_db()
    assert comment.body == "改成代购" and comment.revisions.count() == 2


# --- the moderation queue -----------------------------------------------------------------------


@pytest.fixture
def queue_items(gold_post, gold, keywords, tiers):
    held = services.comment_create(member=gold, page=gold_post, body="需要审核的代购评论")
    reported = services.comment_create(member=gold, page=gold_post, body="被人举报的评论")
    reporter = MemberFactory(tier=tiers["platinum"], display_name="热心会员")
    services.comment_report(member=reporter, comment=reported, reason="abuse", detail="人身攻击")
    clean = services.comment_create(member=gold, page=gold_post, body="没有问题的评论")
    return {"held": held, "reported": reported, "clean": clean}


def test_queue_lists_held_and_reported_comments_with_context(client, moderator, queue_items):
    html = html_of(client.get(QUEUE_URL))
    queue = html.split('data-testid="moderation-queue"')[1]
    held, reported = queue_items["held"], queue_items["reported"]
    assert f'id="queue-comment-{held.pk}"' in queue and "需要审核的代购评论" in queue
    row = queue.split(f'id="queue-comment-{reported.pk}"')[1].split("</tr>")[0]
    assert "被人举报的评论" in row and "金卡专享：秀场后台" in row and "金卡作者" in row
    assert "辱骂、骚扰或人身攻击" in row and "人身攻击" in row and "热心会员" in row
    assert "没有问题的评论" not in queue
    assert "待审核（1）" in html and "被举报（1）" in html

    reported_only = html_of(client.get(QUEUE_URL + "?show=reported"))
    assert "被人举报的评论" in reported_only and "需要审核的代购评论" not in reported_only


def test_approving_a_held_comment_publishes_it_and_notifies_mentions(
    client, moderator, gold_post, gold, keywords, tiers, django_capture_on_commit_callbacks
):
    friend = MemberFactory(tier=tiers["gold"], display_name="老朋友", weibo_screen_name="老朋友")
    held = services.comment_create(member=gold, page=gold_post, body="@老朋友 一起代购吗")
    assert CommentMention.objects.filter(comment=held, member=friend).exists()

    def approve():
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"{QUEUE_URL}{held.pk}/decide/",
                {"decision": "approve", "reason": "正常交流"},
                follow=True,
            )
        assert "已通过评论" in html_of(response)

    events = events_during([user_group(friend.user_id)], approve, expect=1)
    assert [event["kind"] for event in events] == ["comment_mention"]
    held.refresh_from_db()
    assert (held.state, held.decided_by, held.decision_reason) == (
        "published",
        moderator,
        "正常交流",
    )
    entry = AuditEntry.objects.get(action="comment.approved")
    assert entry.actor == moderator and entry.reason == "正常交流"
    assert entry.before["state"] == "held" and entry.after["state"] == "published"


def test_rejecting_needs_a_reason_and_tells_the_writer_why(
    client, login, moderator, queue_items, gold, gold_post
):
    held = queue_items["held"]
    html = html_of(
        client.post(f"{QUEUE_URL}{held.pk}/decide/", {"decision": "reject"}, follow=True)
    )
    assert "请填写处理原因。" in html
    held.refresh_from_db()
    assert (
        held.state == "held" and not AuditEntry.objects.filter(action="comment.rejected").exists()
    )

    client.post(f"{QUEUE_URL}{held.pk}/decide/", {"decision": "reject", "reason": "涉嫌违规交易"})
    held.refresh_from_db()
    assert held.state == "rejected" and held.decision_reason == "涉嫌违规交易"
    assert AuditEntry.objects.get(action="comment.rejected").actor == moderator

    login(gold)
    html = html_of(client.get(gold_post.get_url()))
    assert "未通过审核：涉嫌违规交易" in html


def test_rejecting_a_reported_comment_removes_it_softly_and_upholds_reports(
    client, login, moderator, queue_items, tiers, gold_post
):
    reported = queue_items["reported"]
    client.post(f"{QUEUE_URL}{reported.pk}/decide/", {"decision": "reject", "reason": "辱骂"})
    reported.refresh_from_db()
    assert reported.state == "removed" and reported.decided_by == moderator
    assert reported.revisions.get().written == "被人举报的评论"
    report = CommentReport.objects.get()
    assert (report.state, report.resolved_by) == ("upheld", moderator)
    entry = AuditEntry.objects.get(action="comment.removed_by_moderator")
    assert entry.after["reports_closed"] == 1

    login(MemberFactory(tier=tiers["gold"]))
    assert "被人举报的评论" not in html_of(client.get(gold_post.get_url()))
    client.force_login(moderator)
    assert "被人举报的评论" not in html_of(client.get(QUEUE_URL))


def test_approving_a_reported_comment_dismisses_the_reports(client, moderator, queue_items):
    reported = queue_items["reported"]
    client.post(f"{QUEUE_URL}{reported.pk}/decide/", {"decision": "approve"})
    reported.refresh_from_db()
    assert reported.state == "published"
    assert CommentReport.objects.get().state == "dismissed"
    assert "被人举报的评论" not in html_of(client.get(QUEUE_URL))


def test_censoring_from_the_queue_masks_text_and_keeps_a_revision(client, moderator, queue_items):
    reported = queue_items["reported"]
    url = f"{QUEUE_URL}{reported.pk}/decide/"
    form = {"decision": "censor", "reason": "不文明", "censor_text": "不存在"}
    html = html_of(client.post(url, form, follow=True))
    assert "评论中没有找到要屏蔽的文字。" in html
    client.post(url, {"decision": "censor", "reason": "不文明", "censor_text": "举 报"})
    reported.refresh_from_db()
    assert reported.body == "被人＊＊的评论" and reported.state == "published"
    revisions = list(reported.revisions.values_list("kind", "written", "shown", "created_by"))
    assert revisions == [
        ("created", "被人举报的评论", "被人举报的评论", reported.member.user_id),
        ("censored", "被人举报的评论", "被人＊＊的评论", moderator.pk),
    ]
    assert AuditEntry.objects.get(action="comment.censored").reason == "不文明"


def test_bulk_decisions(client, moderator, gold_post, gold, keywords):
    held = [
        services.comment_create(member=gold, page=gold_post, body=f"代购 {n}") for n in range(3)
    ]
    response = client.post(
        f"{QUEUE_URL}bulk/",
        {"comment": [held[0].pk, held[1].pk], "decision": "approve", "reason": ""},
        follow=True,
    )
    assert "已处理 2 条评论。" in html_of(response)
    states = dict(Comment.objects.values_list("pk", "state"))
    assert [states[c.pk] for c in held] == ["published", "published", "held"]
    assert AuditEntry.objects.filter(action="comment.approved").count() == 2

    response = client.post(
        f"{QUEUE_URL}bulk/",
        {"comment": [c.pk for c in held], "decision": "reject", "reason": "批量清理"},
        follow=True,
    )
    html = html_of(response)
    # The two published ones are taken down, the held one rejected: nothing is skipped.
    assert "已处理 3 条评论。" in html
    states = dict(Comment.objects.values_list("pk", "state"))
    assert [states[c.pk] for c in held] == ["removed", "removed", "rejected"]
    response = client.post(
        f"{QUEUE_URL}bulk/", {"comment": [held[2].pk], "decision": "reject", "reason": "再来"},
        follow=True,
    )  # fmt: skip
    assert "1 条已被处理过或状态已变化，已跳过。" in html_of(response)
    assert AuditEntry.objects.filter(action__startswith="comment.re").count() == 3


def test_staff_without_the_permission_get_403_and_change_nothing(client, queue_items, keywords):
    client.force_login(staff_with("community.view_moderationkeyword"))
    held = queue_items["held"]
    assert client.get(QUEUE_URL).status_code == 403
    assert client.get(f"{QUEUE_URL}{held.pk}/").status_code == 403
    response = client.post(f"{QUEUE_URL}{held.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 403
    response = client.post(f"{QUEUE_URL}bulk/", {"comment": [held.pk], "decision": "approve"})
    assert response.status_code == 403
    held.refresh_from_db()
    assert held.state == "held"
    assert not AuditEntry.objects.filter(action="comment.approved").exists()

    client.force_login(staff_with())
    assert client.get(TEST_URL).status_code == 403
    assert client.get(KEYWORDS_URL).status_code in (302, 403)


def test_comment_detail_shows_history_reports_and_audit(client, moderator, queue_items):
    reported = queue_items["reported"]
    client.post(f"{QUEUE_URL}{reported.pk}/decide/", {"decision": "approve", "reason": "没问题"})
    html = html_of(client.get(f"{QUEUE_URL}{reported.pk}/"))
    assert "被人举报的评论" in html and "热心会员" in html
    assert "comment.approved" in html and "没问题" in html


# --- keyword list and the test box --------------------------------------------------------------


def test_keyword_test_box_shows_what_would_happen_without_counting(client, moderator, keywords):
    html = html_of(client.post(TEST_URL, {"text": "加ＷＥＩ ＸＩＮ聊代购广告"}))
    result = html.split('data-testid="keyword-test-result"')[1]
    assert "会被拦截" in result and "起决定作用的敏感词：weixin" in result
    assert "ＷＥＩ ＸＩＮ" in result and "禁止发布联系方式" in result
    assert "代购" in result and "广告" in result
    html = html_of(client.post(TEST_URL, {"text": "这个广告"}))
    assert "会发布，命中的文字被替换为＊" in html and "这个＊＊" in html
    assert "没有命中任何敏感词" in html_of(client.post(TEST_URL, {"text": "你好"}))
    assert ModerationKeyword.objects.filter(hits__gt=0).count() == 0
    listing = html.split('data-testid="keyword-hits"')[1]
    assert "weixin" in listing and "禁止发布联系方式" in listing


def test_hit_counts_are_listed_per_word(client, moderator, gold_post, gold, keywords):
    services.comment_create(member=gold, page=gold_post, body="广告广告")
    services.comment_create(member=gold, page=gold_post, body="又是广告")
    html = html_of(client.get(TEST_URL))
    listing = html.split('data-testid="keyword-hits"')[1]
    row = listing.split("<tr><td>广告</td>")[1].split("</tr>")[0]
    assert "<td>2</td>" in row  # counted once per comment


def test_staff_edit_keywords_as_a_snippet(client):
    client.force_login(StaffFactory(username="keyword-editor"))
    response = client.post(
        f"{KEYWORDS_URL}add/", {"word": "ＴａoBao", "action": "hold", "note": "站外交易"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    created = ModerationKeyword.objects.get()
    assert (created.normalised, created.action) == ("taobao", "hold")
    response = client.post(f"{KEYWORDS_URL}add/", {"word": "taobao", "action": "flag"})
    assert (
        response.status_code == 200
        and "已经有一个规范化后相同的敏感词。" in response.content.decode()
    )
    assert "ＴａoBao" in html_of(client.get(KEYWORDS_URL))


def test_community_menu_is_shown_to_moderators_only(moderator):
    menu = next(
        item for fn in hooks.get_hooks("register_admin_menu_item")
        if (item := fn()) is not None and getattr(item, "name", "") == "community-admin"
    )  # fmt: skip
    request = RequestFactory().get("/admin/")
    request.user = moderator
    labels = [str(item.label) for item in menu.menu.menu_items_for_request(request)]
    assert labels == ["审核队列", "敏感词", "敏感词测试"]
    request.user = staff_with()
    assert not menu.is_shown(request)


# --- restoring what a moderator removed ---------------------------------------------------------


def test_a_comment_removed_by_a_moderator_is_restored_with_its_points_once(
    client, login, moderator, tiers, gold, gold_post
):
    from core.models import Notification
    from loyalty.models import EarningRule, PointsAccount

    EarningRule.objects.create(name="评论", trigger="comment_approved", points=20)
    comment = services.comment_create(member=gold, page=gold_post, body="被误删的好评论")
    balance = PointsAccount.objects.get(member=gold).balance
    services.comment_moderate(comment=comment, actor=moderator, decision="reject", reason="误判")
    assert PointsAccount.objects.get(member=gold).balance == balance - 20
    detail = html_of(client.get(f"{QUEUE_URL}{comment.pk}/"))
    assert 'data-testid="restore"' in detail

    refused = html_of(
        client.post(f"{QUEUE_URL}{comment.pk}/decide/", {"decision": "restore"}, follow=True)
    )
    assert "请填写处理原因。" in refused
    comment.refresh_from_db()
    assert comment.state == "removed"

    client.post(f"{QUEUE_URL}{comment.pk}/decide/", {"decision": "restore", "reason": "复核后恢复"})
    comment.refresh_from_db()
    assert comment.state == "published" and comment.decision_reason == "复核后恢复"
    assert PointsAccount.objects.get(member=gold).balance == balance
    entry = AuditEntry.objects.get(action="comment.restored")
    assert entry.actor == moderator and entry.before["state"] == "removed"
    notice = Notification.objects.filter(user=gold.user, kind="moderation").first()
    assert notice.title == "您的评论已恢复显示" and notice.body == "复核后恢复"
    assert 'data-testid="restore"' not in html_of(client.get(f"{QUEUE_URL}{comment.pk}/"))
    # Restoring again is refused: it is published.
    with pytest.raises(services.NotRestorable):
        services.comment_moderate(
            comment=comment, actor=moderator, decision="restore", reason="再来一次"
        )

    login(MemberFactory(tier=tiers["gold"]))
    assert "被误删的好评论" in html_of(client.get(gold_post.get_url()))


def test_what_the_author_deleted_stays_deleted(client, moderator, gold, gold_post, tiers):
    comment = services.comment_create(member=gold, page=gold_post, body="我不想要了")
    services.comment_withdraw(member=gold, comment=comment)
    assert 'data-testid="restore"' not in html_of(client.get(f"{QUEUE_URL}{comment.pk}/"))
    response = client.post(
        f"{QUEUE_URL}{comment.pk}/decide/", {"decision": "restore", "reason": "想恢复"}, follow=True
    )
    assert "作者自己删除的评论" in html_of(response)
    comment.refresh_from_db()
    assert comment.state == "removed"
    assert not AuditEntry.objects.filter(action="comment.restored").exists()


def test_a_departed_members_removed_comment_cannot_be_restored(moderator, gold, gold_post):
    from members.models import Member

    comment = services.comment_create(member=gold, page=gold_post, body="离开前的评论")
    services.comment_moderate(comment=comment, actor=moderator, decision="reject", reason="广告")
    Member.objects.filter(pk=gold.pk).update(state=Member.State.LEFT)
    with pytest.raises(services.NotRestorable):
        services.comment_moderate(
            comment=comment, actor=moderator, decision="restore", reason="复核"
        )
    comment.refresh_from_db()
    assert comment.state == "removed"
