"""Comments, replies, mentions, likes and reports on items, as members and outsiders see them.

Comments are gated content: only viewers whose gate decision for the item is FULL see them (or
their count) and may write; everyone else gets neither the text nor the form, and 403/404 when
posting directly.
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from community import demo
from community.interaction import services
from community.interaction.views import COMMENT_RATE_LIMIT
from community.models import ActivityPage, CommunityHome, OfferPage, PostPage
from community.models_interaction import (
    Comment,
    CommentLike,
    CommentMention,
    CommentReport,
    ItemLike,
)
from core.events import STAFF_GROUP, user_group
from core.models import AuditEntry
from members.models import Member
from tests.factories import MemberFactory, StaffFactory, standard_tiers

pytestmark = pytest.mark.django_db

SECRET = "机密-金卡文章正文"


# --- helpers shared with test_moderation ------------------------------------------------------


def publish_item(home, model=PostPage, **fields):
    defaults = {
        "title": "金卡专享：秀场后台",
        "slug": "gold-backstage",
        "summary": "公开摘要",
        "access": "min_tier",
        "body": [("paragraph", "<p>开场白</p>"), ("paywall", None),
                 ("paragraph", f"<p>{SECRET}</p>")],
    }  # fmt: skip
    page = model(**{**defaults, **fields})
    home.add_child(instance=page)
    page.save_revision().publish()
    return page


def comment_url(page) -> str:
    return f"/interaction/items/{page.pk}/comments/"


def post_comment(client, page, body: str, **extra):
    return client.post(comment_url(page), {"body": body, **extra}, follow=True)


def html_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def events_during(groups: list[str], action, *, expect: int, settle: float = 0.3):
    """Run ``action`` and return the payloads the real channel layer delivered to ``groups``.

    Waits for ``expect`` events, then ``settle`` seconds more so that unexpected extra events
    are caught too.
    """

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        await sync_to_async(action)()
        received = []
        try:
            while True:
                wait = 5 if len(received) < expect else settle
                message = await asyncio.wait_for(layer.receive(channel), timeout=wait)
                received.append(message["payload"])
        except TimeoutError:
            pass
        for group in groups:
            await layer.group_discard(group, channel)
        return received

    return async_to_sync(scenario)()


@pytest.fixture
def tiers():
    return standard_tiers()


@pytest.fixture
def home(tiers):
    demo.load_structure()
    return CommunityHome.objects.get()


@pytest.fixture
def gold_post(home, tiers):
    return publish_item(home, min_tier=tiers["gold"])


@pytest.fixture
def login(client):
    def as_(member_or_user):
        user = getattr(member_or_user, "user", member_or_user)
        client.force_login(user)
        return client

    return as_


# --- who sees and writes comments ---------------------------------------------------------------


def test_gold_member_comments_and_gold_and_platinum_members_see_it(client, login, gold_post, tiers):
    author = MemberFactory(tier=tiers["gold"], display_name="金卡作者")
    login(author)
    page = gold_post.get_url()
    assert 'data-testid="comment-form"' in html_of(client.get(page))

    html = html_of(post_comment(client, gold_post, "秀场的灯光太美了"))
    assert "评论已发布。" in html
    comment = Comment.objects.get()
    assert (comment.state, comment.member, comment.page_id) == ("published", author, gold_post.pk)
    assert comment.revisions.get().written == "秀场的灯光太美了"

    for reader in (MemberFactory(tier=tiers["gold"]), MemberFactory(tier=tiers["platinum"])):
        login(reader)
        html = html_of(client.get(page))
        assert "秀场的灯光太美了" in html and "金卡作者" in html
        assert "评论（1）" in html
        assert 'data-testid="comment-form"' in html

    login(StaffFactory())
    html = html_of(client.get(page))
    assert "秀场的灯光太美了" in html
    assert 'data-testid="comment-form"' not in html  # staff moderate in the admin


@pytest.mark.parametrize("persona", ["silver", "applicant", "suspended", "outsider"])
def test_viewers_without_full_access_see_no_comment_and_cannot_write(
    client, login, gold_post, tiers, persona
):
    author = MemberFactory(tier=tiers["gold"])
    comment = services.comment_create(member=author, page=gold_post, body="只给金卡看的评论")
    if persona == "silver":
        login(MemberFactory(tier=tiers["silver"]))
    elif persona == "applicant":
        login(MemberFactory(state=Member.State.APPLICANT, tier=None, joined_at=None))
    elif persona == "suspended":
        login(MemberFactory(state=Member.State.SUSPENDED, tier=tiers["platinum"]))

    html = html_of(client.get(gold_post.get_url()))
    assert 'data-testid="paywall"' in html  # the teaser is served ...
    assert "只给金卡看的评论" not in html  # ... but nothing of the conversation
    assert 'data-testid="comments"' not in html and "评论（" not in html
    assert 'data-testid="comment-form"' not in html

    assert client.post(comment_url(gold_post), {"body": "我也想说"}).status_code == 403
    assert client.post(f"/interaction/items/{gold_post.pk}/like/").status_code == 403
    for action in ("like", "report", "edit", "remove"):
        response = client.post(f"/interaction/comments/{comment.pk}/{action}/", {"reason": "spam"})
        assert response.status_code == 403, action
    assert Comment.objects.count() == 1
    assert not CommentLike.objects.exists() and not ItemLike.objects.exists()
    assert not CommentReport.objects.exists()


def test_hidden_item_answers_404_to_lower_tiers(client, login, home, tiers):
    hidden = publish_item(home, slug="platinum-only", access="tiers", hide_when_locked=True)
    hidden.tiers.set([tiers["platinum"]])
    hidden.save_revision().publish()
    login(MemberFactory(tier=tiers["gold"]))
    assert client.get(hidden.get_url()).status_code == 404
    assert client.post(comment_url(hidden), {"body": "你好"}).status_code == 404


def test_services_check_the_gate_themselves(gold_post, tiers):
    silver = MemberFactory(tier=tiers["silver"])
    with pytest.raises(services.CommentsNotAllowed):
        services.comment_create(member=silver, page=gold_post, body="绕过视图直接写")
    gold = MemberFactory(tier=tiers["gold"])
    comment = services.comment_create(member=gold, page=gold_post, body="正常评论")
    with pytest.raises(services.CommentsNotAllowed):
        services.comment_like_toggle(member=silver, comment=comment)
    with pytest.raises(services.CommentsNotAllowed):
        services.comment_report(member=silver, comment=comment, reason="spam")
    assert Comment.objects.count() == 1


def test_activities_take_comments_and_offers_do_not(client, login, home, tiers):
    activity = publish_item(home, model=ActivityPage, slug="trip", min_tier=tiers["gold"])
    offer = publish_item(home, model=OfferPage, slug="deal", min_tier=tiers["gold"])
    login(MemberFactory(tier=tiers["gold"]))
    assert "评论已发布。" in html_of(post_comment(client, activity, "报名了！"))
    assert 'data-testid="comments"' not in html_of(client.get(offer.get_url()))
    assert client.post(comment_url(offer), {"body": "好价"}).status_code == 403


def test_comment_text_is_escaped(client, login, gold_post, tiers):
    login(MemberFactory(tier=tiers["gold"]))
    payload = "<script>alert('xss')</script><img src=x onerror=alert(1)>"
    html = html_of(post_comment(client, gold_post, payload))
    assert "<script>alert(" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(" in html


def test_replies_attach_to_the_top_level_comment(client, login, gold_post, tiers):
    first = MemberFactory(tier=tiers["gold"])
    top = services.comment_create(member=first, page=gold_post, body="楼主的话")
    reply = services.comment_create(member=first, page=gold_post, body="一楼", parent=top)
    login(MemberFactory(tier=tiers["platinum"]))
    html = html_of(post_comment(client, gold_post, "回复一楼", parent=reply.pk))
    deeper = Comment.objects.get(body="回复一楼")
    assert deeper.parent_id == top.pk
    thread = html.split(f'id="comment-{top.pk}"')[1]
    assert thread.index("一楼") < thread.index("回复一楼")


def test_blank_and_overlong_comments_are_refused(client, login, gold_post, tiers):
    login(MemberFactory(tier=tiers["gold"]))
    assert "评论不能为空。" in html_of(post_comment(client, gold_post, " \u200b \n"))
    long = "长" * (services.MAX_COMMENT_LENGTH + 1)
    assert "评论最多 2000 个字" in html_of(post_comment(client, gold_post, long))
    assert not Comment.objects.exists()


# --- editing and removing -----------------------------------------------------------------------


def test_edit_keeps_every_version(client, login, gold_post, tiers):
    author = MemberFactory(tier=tiers["gold"])
    comment = services.comment_create(member=author, page=gold_post, body="第一版")
    login(author)
    edit_url = f"/interaction/comments/{comment.pk}/edit/"
    assert "第一版" in html_of(client.get(edit_url))
    html = html_of(client.post(edit_url, {"body": "第二版"}, follow=True))
    assert "第二版" in html and "（已编辑）" in html and "第一版" not in html

    comment.refresh_from_db()
    assert comment.body == "第二版" and comment.edited_at is not None
    versions = list(comment.revisions.values_list("kind", "written"))
    assert versions == [("created", "第一版"), ("edited", "第二版")]

    login(MemberFactory(tier=tiers["gold"]))
    assert client.post(edit_url, {"body": "改别人的"}).status_code == 403
    comment.refresh_from_db()
    assert comment.body == "第二版"


def test_author_removal_is_soft_and_audited(client, login, gold_post, tiers):
    author = MemberFactory(tier=tiers["gold"])
    comment = services.comment_create(member=author, page=gold_post, body="想撤回的话")
    login(author)
    html = html_of(client.post(f"/interaction/comments/{comment.pk}/remove/", follow=True))
    assert "评论已删除。" in html and "想撤回的话" not in html

    comment.refresh_from_db()
    assert comment.state == "removed"
    assert comment.decided_by == author.user and comment.decided_at is not None
    assert comment.revisions.get().written == "想撤回的话"  # the words are kept
    entry = AuditEntry.objects.get(action="comment.removed_by_author")
    assert entry.actor == author.user and entry.target_id == str(comment.pk)
    assert entry.before == {"state": "published"} and entry.after == {"state": "removed"}

    login(MemberFactory(tier=tiers["gold"]))
    assert "想撤回的话" not in html_of(client.get(gold_post.get_url()))
    with pytest.raises(ProtectedError), transaction.atomic():
        Comment.objects.filter(pk=comment.pk).delete()


def test_removed_comment_with_replies_leaves_a_placeholder(client, login, gold_post, tiers):
    author = MemberFactory(tier=tiers["gold"])
    top = services.comment_create(member=author, page=gold_post, body="会被删掉的楼")
    services.comment_create(member=MemberFactory(tier=tiers["gold"]), page=gold_post,
                            body="留下来的回复", parent=top)  # fmt: skip
    services.comment_withdraw(member=author, comment=top)
    login(MemberFactory(tier=tiers["gold"]))
    html = html_of(client.get(gold_post.get_url()))
    assert "会被删掉的楼" not in html
    assert "该评论已删除或暂不可见。" in html and "留下来的回复" in html


# --- mentions, likes, reports -------------------------------------------------------------------


def test_mentions_reach_only_members_who_can_read_the_item(
    client, login, gold_post, tiers, django_capture_on_commit_callbacks
):
    """Mentions name members by their unique handle (the Weibo screen name, any case), never
    by display name; members who may not read the item, suspended ones and strangers are
    neither notified nor linked."""
    author = MemberFactory(tier=tiers["gold"], display_name="发帖人", weibo_screen_name="发帖人")
    gold = MemberFactory(tier=tiers["gold"], display_name="王先生", weibo_screen_name="小王")
    namesake = MemberFactory(tier=tiers["gold"], display_name="小王")  # a display name only
    platinum = MemberFactory(tier=tiers["platinum"], weibo_screen_name="Platinum_Zhang")
    silver = MemberFactory(tier=tiers["silver"], weibo_screen_name="银卡小李")
    suspended = MemberFactory(tier=tiers["gold"], weibo_screen_name="停用者",
                              state=Member.State.SUSPENDED)  # fmt: skip
    body = "@小王你好，@platinum_zhang @银卡小李 @停用者 @发帖人 @没有这个人 一起去吧"

    def write():
        with django_capture_on_commit_callbacks(execute=True):
            services.comment_create(member=author, page=gold_post, body=body)

    groups = [user_group(m.user_id) for m in (gold, namesake, platinum, silver, suspended, author)]
    events = events_during(groups, write, expect=2)

    comment = Comment.objects.get()
    assert set(CommentMention.objects.values_list("member", flat=True)) == {gold.pk, platinum.pk}
    assert sorted(event["kind"] for event in events) == ["comment_mention"] * 2
    assert {event["link"] for event in events} == {f"{gold_post.url}#comment-{comment.pk}"}
    assert all(gold_post.title in event["title"] for event in events)
    from core.models import Notification

    notified = Notification.objects.filter(kind="comment_mention")
    assert set(notified.values_list("user", flat=True)) == {gold.user_id, platinum.user_id}

    # Readers see the two mentions as links to the members' Weibo pages, the rest as text.
    login(MemberFactory(tier=tiers["gold"]))
    html = html_of(client.get(gold_post.get_url()))
    assert '<a class="mention" href="https://weibo.com/n/%E5%B0%8F%E7%8E%8B"' in html
    assert ">@小王</a>你好" in html
    assert "https://weibo.com/n/Platinum_Zhang" in html and ">@platinum_zhang</a>" in html
    assert html.count('class="mention"') == 2
    assert "@银卡小李" in html and "@停用者" in html


def test_a_mention_is_not_linked_once_the_member_cannot_read_the_item(
    client, login, gold_post, tiers
):
    author = MemberFactory(tier=tiers["gold"])
    friend = MemberFactory(tier=tiers["gold"], weibo_screen_name="老友")
    services.comment_create(member=author, page=gold_post, body="@老友 快来看")
    login(author)
    assert html_of(client.get(gold_post.get_url())).count('class="mention"') == 1
    friend.tier = tiers["silver"]
    friend.save(update_fields=["tier"])
    html = html_of(client.get(gold_post.get_url()))
    assert 'class="mention"' not in html and "@老友 快来看" in html


def test_item_and_comment_likes_toggle(client, login, gold_post, tiers):
    comment = services.comment_create(
        member=MemberFactory(tier=tiers["gold"]), page=gold_post, body="点赞测试"
    )
    login(MemberFactory(tier=tiers["gold"]))
    client.post(f"/interaction/items/{gold_post.pk}/like/")
    client.post(f"/interaction/comments/{comment.pk}/like/")
    html = html_of(client.get(gold_post.get_url()))
    assert "已赞 · 1" in html
    assert (ItemLike.objects.count(), CommentLike.objects.count()) == (1, 1)

    client.post(f"/interaction/items/{gold_post.pk}/like/")
    client.post(f"/interaction/comments/{comment.pk}/like/")
    assert (ItemLike.objects.count(), CommentLike.objects.count()) == (0, 0)
    assert "点赞 · 0" in html_of(client.get(gold_post.get_url()))


def test_likes_are_unique_per_member_in_the_database(gold_post, tiers):
    member = MemberFactory(tier=tiers["gold"])
    comment = services.comment_create(member=member, page=gold_post, body="唯一")
    CommentLike.objects.create(comment=comment, member=member)
    with pytest.raises(IntegrityError), transaction.atomic():
        CommentLike.objects.create(comment=comment, member=member)
    ItemLike.objects.create(page=gold_post, member=member)
    with pytest.raises(IntegrityError), transaction.atomic():
        ItemLike.objects.create(page=gold_post, member=member)


def test_report_sends_the_comment_to_moderators_once(
    client, login, gold_post, tiers, django_capture_on_commit_callbacks
):
    author = MemberFactory(tier=tiers["gold"])
    comment = services.comment_create(member=author, page=gold_post, body="可疑的评论")
    reporter = MemberFactory(tier=tiers["gold"])
    login(reporter)
    url = f"/interaction/comments/{comment.pk}/report/"

    def report():
        with django_capture_on_commit_callbacks(execute=True):
            html = html_of(client.post(url, {"reason": "spam", "detail": "像广告"}, follow=True))
        assert "已收到您的举报" in html

    events = events_during([STAFF_GROUP], report, expect=1)
    assert [event["type"] for event in events] == ["comment.reported"]
    report_row = CommentReport.objects.get()
    assert (report_row.reporter, report_row.reason, report_row.detail) == (
        reporter,
        "spam",
        "像广告",
    )

    html = html_of(client.post(url, {"reason": "abuse"}, follow=True))
    assert "您已经举报过这条评论" in html
    assert CommentReport.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        CommentReport.objects.create(comment=comment, reporter=reporter, reason="other")

    login(author)
    assert "不能举报自己的评论。" in html_of(client.post(url, {"reason": "spam"}, follow=True))


# --- limits and cost ----------------------------------------------------------------------------


def test_posting_is_rate_limited_per_member(client, login, gold_post, tiers):
    login(MemberFactory(tier=tiers["gold"]))
    for index in range(COMMENT_RATE_LIMIT):
        assert "评论已发布。" in html_of(post_comment(client, gold_post, f"第 {index} 条"))
    html = html_of(post_comment(client, gold_post, "第十一条"))
    assert "评论太频繁了，请一分钟后再试。" in html
    assert "第十一条" in html  # the draft is given back in the form
    assert Comment.objects.count() == COMMENT_RATE_LIMIT


def test_item_page_query_count_does_not_grow_with_comments(client, login, gold_post, tiers):
    reader = MemberFactory(tier=tiers["gold"])
    writers = [MemberFactory(tier=tiers["gold"]) for _ in range(3)]

    def add(count: int) -> None:
        for index in range(count):
            top = services.comment_create(member=writers[index % 3], page=gold_post,
                                          body=f"评论 {index}")  # fmt: skip
            services.comment_create(member=writers[(index + 1) % 3], page=gold_post,
                                    body=f"回复 {index}", parent=top)  # fmt: skip
            CommentLike.objects.create(comment=top, member=writers[(index + 2) % 3])

    def queries() -> int:
        # The session cookie alone, as on a first visit: the page is rendered, never served
        # from the member's kept copy (which needs the browser's CSRF cookie).
        client.cookies.pop(settings.CSRF_COOKIE_NAME, None)
        with CaptureQueriesContext(connection) as captured:
            html_of(client.get(gold_post.get_url()))
        return len(captured)

    login(reader)
    add(2)
    queries()  # warm up
    few = queries()
    add(12)
    queries()  # a new comment renews the page cache: the first request renders again
    assert queries() == few
