"""Segments (the social technographics ladder), zombie re-evaluation, and what they drive:
earning rules for a segment, notifications to a segment, no referral bonus for zombie invitees."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from community import demo
from community.interaction.services import comment_create, comment_report, item_like_toggle
from community.models import Comment, PostPage
from community.participation import services as participation
from config.celery import app as celery_app
from core import roles
from core.audit import audit_verify
from core.models import AuditEntry, Notification, NotificationPreference
from loyalty import services as loyalty
from loyalty.models import EarningRule, PointsAccount, PointsEntry
from members import segments, selectors
from members.models import Member, Segment
from members.tasks import notify_segment
from share.models import Share
from tests.community.test_claims import make_offer, publish_item
from tests.community.test_registrations import make_activity
from tests.conftest import wait_until
from tests.factories import MemberFactory, StaffFactory, UserFactory, standard_tiers

pytestmark = pytest.mark.django_db

NOTIFY_URL = "/admin/members/notify/"


def healthy(**fields) -> Member:
    """An admitted member whose stored Weibo data looks like a real person's."""
    defaults = {
        "weibo_followers": 800,
        "weibo_friends": 300,
        "weibo_statuses": 1200,
        "weibo_default_avatar": False,
        "weibo_created_at": timezone.now() - timedelta(days=3 * 365),
        "last_seen_at": timezone.now() - timedelta(days=1),
    }
    return MemberFactory(**{**defaults, **fields})


def make_post() -> PostPage:
    slug = f"post-{uuid.uuid4().hex[:8]}"
    return publish_item(
        PostPage(
            title=f"会员文章 {slug}",
            slug=slug,
            summary="公开摘要",
            access="members",
            body=[("paragraph", "<p>正文</p>")],
        )
    )


def share(member: Member, page) -> Share:
    token = uuid.uuid4().hex
    return Share.objects.create(
        member=member, kind=Share.Kind.ITEM, item=page, subject_key=f"item:{page.pk}",
        subject_title=page.title, text="一起来看看", token=token,
        link=f"https://club.example/s/{token}/", rip="127.0.0.1", confirmation_key=token,
    )  # fmt: skip


def classify(**kwargs) -> dict:
    return segments.segments_classify(**kwargs)


def segment_of(member: Member) -> tuple[str, dict]:
    member.refresh_from_db()
    return member.segment, member.segment_reasons


@pytest.fixture
def tiers(db):
    demo.load_structure()
    return standard_tiers()


@pytest.fixture
def ladder(tiers):
    """One hand-built member per rung (and a few near misses), with real activity rows."""
    now = timezone.now()
    post = make_post()
    people = {}

    people["creator"] = healthy(display_name="创作者")
    threads = [
        comment_create(member=people["creator"], page=post, body=f"我想聊聊第 {n} 个话题")
        for n in range(3)
    ]
    people["old_creator"] = healthy(display_name="过气创作者", last_seen_at=now - timedelta(200))
    for n in range(3):
        comment_create(member=people["old_creator"], page=post, body=f"很久以前的话题 {n}")
    Comment.objects.filter(member=people["old_creator"]).update(
        created_at=now - timedelta(days=120)
    )

    people["critic"] = healthy(display_name="评论者")
    comment_create(member=people["critic"], page=post, body="同意楼上", parent=threads[0])
    people["reporter"] = healthy(display_name="举报者")
    comment_report(member=people["reporter"], comment=threads[1], reason="spam")

    people["liker"] = healthy(display_name="点赞者")
    item_like_toggle(member=people["liker"], page=post)
    people["sharer"] = healthy(display_name="分享者")
    share(people["sharer"], post)
    people["claimer"] = healthy(display_name="领券者")
    participation.offer_claim(offer=make_offer(codes=1), member=people["claimer"],
                              idempotency_key="claim-1")  # fmt: skip

    people["registrant"] = healthy(display_name="报名者")
    participation.activity_register(activity=make_activity(), member=people["registrant"])
    EarningRule.objects.create(name="每日签到", trigger="daily_checkin", points=5)
    people["checker"] = healthy(display_name="签到者")
    loyalty.points_checkin(member=people["checker"])

    people["spectator"] = healthy(display_name="旁观者", last_seen_at=now - timedelta(days=10))
    people["inactive"] = healthy(display_name="沉睡者", last_seen_at=now - timedelta(days=91))
    people["never_seen"] = healthy(display_name="从未访问", last_seen_at=None)
    people["applicant"] = healthy(display_name="申请人", state=Member.State.APPLICANT)
    return people


def test_each_member_lands_on_the_highest_rung_of_their_last_90_days(ladder):
    result = classify()

    expected = {
        "creator": Segment.CREATOR,
        "old_creator": Segment.INACTIVE,  # three threads, but four months ago
        "critic": Segment.CRITIC,
        "reporter": Segment.CRITIC,
        "liker": Segment.COLLECTOR,
        "sharer": Segment.COLLECTOR,
        "claimer": Segment.COLLECTOR,
        "registrant": Segment.JOINER,
        "checker": Segment.JOINER,
        "spectator": Segment.SPECTATOR,
        "inactive": Segment.INACTIVE,
        "never_seen": Segment.INACTIVE,
        "applicant": "",  # only admitted members are classified
    }
    assert {name: segment_of(member)[0] for name, member in ladder.items()} == expected
    assert result["segment_changes"] == len(ladder) - 1

    assert segment_of(ladder["creator"])[1] == {"threads": 3, "comments": 3}
    assert segment_of(ladder["critic"])[1] == {"comments": 1}
    assert segment_of(ladder["reporter"])[1] == {"reports": 1}
    assert segment_of(ladder["sharer"])[1] == {"shares": 1}
    assert segment_of(ladder["claimer"])[1] == {"claims": 1}
    assert segment_of(ladder["checker"])[1] == {"checkins": 1}
    spectator_day = timezone.localdate(ladder["spectator"].last_seen_at).isoformat()
    assert segment_of(ladder["spectator"])[1] == {"last_visit": spectator_day}
    assert segment_of(ladder["never_seen"])[1] == {"last_visit": None}
    assert ladder["creator"].segment_since is not None


def test_the_job_is_idempotent_and_audits_only_changes(ladder):
    classify(batch_size=3)  # several batches, each its own transaction
    first = AuditEntry.objects.filter(action="member.segment_changed")
    assert first.count() == len(ladder) - 1
    entry = first.get(target_id=str(ladder["creator"].pk))
    assert entry.actor is None and entry.actor_label == "segments.nightly"
    assert entry.before == {"segment": None}
    assert entry.after == {"segment": "creator", "reasons": {"threads": 3, "comments": 3}}

    count = AuditEntry.objects.count()
    again = classify()
    assert again["segment_changes"] == 0 and again["zombie_changes"] == 0
    assert AuditEntry.objects.count() == count

    # 85 days on, the spectator's last visit is 95 days old; everyone else keeps their rung.
    later = classify(now=timezone.now() + timedelta(days=85))
    assert later["segment_changes"] == 1
    assert segment_of(ladder["spectator"])[0] == Segment.INACTIVE
    change = AuditEntry.objects.filter(action="member.segment_changed").order_by("-pk").first()
    assert change.target_id == str(ladder["spectator"].pk)
    assert change.before == {"segment": "spectator"}
    assert change.after["segment"] == "inactive"
    assert audit_verify() == []  # bulk-written entries keep the hash chain intact


def test_members_leaving_the_club_lose_their_segment_with_an_audit_entry(ladder):
    classify()
    critic = ladder["critic"]
    Member.objects.filter(pk=critic.pk).update(state=Member.State.SUSPENDED)
    assert classify()["segment_changes"] == 1
    assert segment_of(critic) == ("", {})
    entry = AuditEntry.objects.filter(action="member.segment_changed").order_by("-pk").first()
    assert (entry.before, entry.after) == ({"segment": "critic"}, {"segment": None, "reasons": {}})


def test_queries_do_not_grow_with_the_number_of_members(tiers):
    def queries_for(count: int) -> int:
        Member.objects.all().update(segment="", segment_since=None)
        for _index in range(count - Member.objects.count()):
            healthy()
        with CaptureQueriesContext(connection) as captured:
            classify(batch_size=1000)
        return len(captured.captured_queries)

    assert queries_for(4) == queries_for(40)


def test_zombie_flags_are_re_evaluated_from_the_stored_weibo_data(tiers):
    now = timezone.now()
    bot = healthy(
        display_name="机器人", weibo_followers=3, weibo_friends=1800, weibo_statuses=1,
        weibo_default_avatar=True, weibo_created_at=now - timedelta(days=20),
    )  # fmt: skip
    grown_up = healthy(
        display_name="新号变老号", weibo_followers=60, weibo_statuses=3,
        weibo_created_at=now - timedelta(days=200),
        zombie_suspected=True, zombie_reasons=["almost_no_statuses", "new_account"],
    )  # fmt: skip
    person = healthy(display_name="真人")
    left = MemberFactory(state=Member.State.LEFT, display_name="已退出")

    result = classify()

    bot.refresh_from_db()
    grown_up.refresh_from_db()
    assert bot.zombie_suspected
    assert bot.zombie_reasons == ["few_followers", "follows_many", "almost_no_statuses",
                                  "default_avatar", "new_account"]  # fmt: skip
    assert not grown_up.zombie_suspected and grown_up.zombie_reasons == []
    assert selectors.is_zombie(bot) and not selectors.is_zombie(grown_up)
    assert result["zombie_changes"] == 2

    changes = AuditEntry.objects.filter(action="member.zombie_changed")
    assert {entry.target_id for entry in changes} == {str(bot.pk), str(grown_up.pk)}
    cleared = changes.get(target_id=str(grown_up.pk))
    assert cleared.actor is None and cleared.actor_label == "zombies.nightly"
    assert cleared.before == {"zombie_suspected": True,
                              "zombie_reasons": ["almost_no_statuses", "new_account"]}  # fmt: skip
    assert cleared.after == {"zombie_suspected": False, "zombie_reasons": []}
    assert not changes.filter(target_id__in=[str(person.pk), str(left.pk)]).exists()
    assert classify()["zombie_changes"] == 0


def test_zombie_invitees_earn_their_inviter_no_referral_bonus(tiers):
    EarningRule.objects.create(name="邀请好友", trigger="referral_joined", points=500)
    inviter = healthy(display_name="邀请人")
    healthy(display_name="真朋友", invited_by=inviter)
    healthy(display_name="买来的号", invited_by=inviter, zombie_suspected=True,
            zombie_reasons=["few_followers", "default_avatar"])  # fmt: skip

    assert loyalty.member_events_sweep() == 1
    assert loyalty.member_events_sweep() == 0
    assert PointsAccount.objects.get(member=inviter).balance == 500
    assert list(
        PointsEntry.objects.filter(account__member=inviter).values_list("reference_id", flat=True)
    ) == [str(Member.objects.get(display_name="真朋友").pk)]


def test_an_earning_rule_can_target_segments(ladder):
    classify()
    EarningRule.objects.create(
        name="创作者专属奖励", trigger="custom", event_code="bonus", points=30,
        target_segments=[Segment.CREATOR, Segment.CRITIC],
    )  # fmt: skip
    awarded = {}
    for name in ("creator", "critic", "liker", "spectator"):
        awards = loyalty.points_award_for_event(
            member=ladder[name], trigger="custom", event_code="bonus", natural_key=f"bonus:{name}"
        )
        awarded[name] = sum(award.points for award in awards)
    assert awarded == {"creator": 30, "critic": 30, "liker": 0, "spectator": 0}


def test_staff_pick_target_segments_in_the_rule_editor(client, tiers):
    client.force_login(StaffFactory())
    form = client.get("/admin/snippets/loyalty/earningrule/add/").content.decode()
    assert 'name="target_segments" value="creator"' in form and "不活跃者" in form
    response = client.post(
        "/admin/snippets/loyalty/earningrule/add/",
        {
            "name": "评论者奖励", "trigger": "comment_approved", "points": "10",
            "pending_days": "0", "enabled": "on", "target_segments": ["critic", "creator"],
            "zombie_audience": "all",
            "multipliers-TOTAL_FORMS": "0", "multipliers-INITIAL_FORMS": "0",
            "multipliers-MIN_NUM_FORMS": "0", "multipliers-MAX_NUM_FORMS": "1000",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert sorted(EarningRule.objects.get(name="评论者奖励").target_segments) == [
        "creator",
        "critic",
    ]


# --- Notifying a segment ------------------------------------------------------------------------


@pytest.fixture
def manager(client, tiers):
    roles.roles_sync()
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=roles.MEMBER_MANAGER))
    client.force_login(user)
    return user


def test_staff_notify_a_segment_in_the_background_once_per_member(
    client, ladder, manager, django_capture_on_commit_callbacks
):
    classify()
    NotificationPreference.objects.create(
        user=ladder["reporter"].user, kind=Notification.Kind.CLUB_MESSAGE
    )
    page = client.get(f"{NOTIFY_URL}?segment=critic").content.decode()
    assert 'value="critic" selected' in page

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            NOTIFY_URL,
            {"segment": "critic", "title": "评论者专属活动", "body": "本周六线下见面会。",
             "link": "/community/"},
            follow=True,
        )  # fmt: skip
    assert "通知正在发送给 2 位会员。" in response.content.decode()
    assert len(callbacks) == 1  # the delivery is queued after commit
    entry = AuditEntry.objects.get(action="members.segment_notified")
    assert entry.actor == manager and entry.target_id == "segment:critic"
    assert entry.after == {"segment": "critic", "zombies": "all", "title": "评论者专属活动",
                           "body": "本周六线下见面会。", "link": "/community/",
                           "recipients": 2}  # fmt: skip

    assert notify_segment(entry.pk) == 1  # the reporter muted this kind of notification
    assert notify_segment(entry.pk) == 0  # a second run (a redelivered task) sends nothing new
    sent = Notification.objects.filter(title="评论者专属活动")
    assert list(sent.values_list("user_id", "body", "link")) == [
        (ladder["critic"].user_id, "本周六线下见面会。", "/community/")
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"segment": "creator", "title": "x", "link": "javascript:alert(1)"}, "链接须以 / 开头"),
        ({"segment": "joiner", "title": "没有人"}, "这个分层目前没有会员。"),
    ],
)
def test_notifying_a_segment_refuses_bad_links_and_empty_segments(
    client, manager, tiers, fields, error
):
    healthy(segment=Segment.CREATOR)
    response = client.post(NOTIFY_URL, {"body": "", **fields}, follow=True)
    assert error in response.content.decode()
    assert not AuditEntry.objects.filter(action="members.segment_notified").exists()


def test_only_member_managers_and_administrators_notify_segments(client, tiers):
    roles.roles_sync()
    healthy(segment=Segment.CREATOR)
    for role in roles.ALL_ROLES:
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        may = role in (roles.MEMBER_MANAGER, roles.ADMINISTRATOR)
        assert (client.get(NOTIFY_URL).status_code == 200) == may, role
        response = client.post(NOTIFY_URL, {"segment": "creator", "title": f"来自{role}"})
        assert (response.status_code == 302) == may, role
    assert AuditEntry.objects.filter(action="members.segment_notified").count() == 2


# --- Scheduling and the real worker -------------------------------------------------------------


def test_the_job_is_scheduled_nightly_at_half_past_three():
    celery_app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["members-classify-segments"]
    assert entry["task"] == "members.classify_segments" and entry["task"] in celery_app.tasks
    assert entry["schedule"] == crontab(minute=30, hour=3)
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"
    assert "members.notify_segment" in celery_app.tasks


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_classifies_and_delivers_a_segment_message(celery_worker_process):
    standard_tiers()
    spectators = [healthy(display_name=f"旁观者{n}") for n in range(3)]
    gone = healthy(display_name="久未访问", last_seen_at=timezone.now() - timedelta(days=120))

    result = celery_app.send_task("members.classify_segments").get(timeout=60)
    assert result == {"members": 4, "segment_changes": 4, "zombie_changes": 0}
    assert [segment_of(m)[0] for m in spectators] == [Segment.SPECTATOR] * 3
    assert segment_of(gone)[0] == Segment.INACTIVE

    segments.segment_notify(
        segment=Segment.SPECTATOR, title="好久不见", body="来看看本月新内容", link="/community/",
        actor=StaffFactory(),
    )  # fmt: skip
    sent = Notification.objects.filter(title="好久不见")
    assert wait_until(lambda: sent.count() == 3, timeout=30)
    assert set(sent.values_list("user_id", flat=True)) == {m.user_id for m in spectators}


# --- Suspected zombie accounts as a target --------------------------------------------------------


def zombie(**fields) -> Member:
    """An admitted member flagged as a suspected zombie account (as login would flag them)."""
    return healthy(zombie_suspected=True, zombie_reasons=["few_followers", "default_avatar"],
                   weibo_followers=3, weibo_default_avatar=True, **fields)  # fmt: skip


def test_an_earning_rule_can_leave_out_or_target_suspected_zombie_accounts(tiers):
    person, bot = healthy(display_name="真人"), zombie(display_name="机器")
    EarningRule.objects.create(
        name="真人专享", trigger="custom", event_code="humans", points=30,
        zombie_audience="exclude",
    )  # fmt: skip
    EarningRule.objects.create(
        name="僵尸号唤醒", trigger="custom", event_code="wake", points=5, zombie_audience="only"
    )

    def earned(member, code):
        awards = loyalty.points_award_for_event(
            member=member, trigger="custom", event_code=code, natural_key=f"{code}:{member.pk}"
        )
        return sum(award.points for award in awards)

    assert (earned(person, "humans"), earned(bot, "humans")) == (30, 0)
    assert (earned(person, "wake"), earned(bot, "wake")) == (0, 5)

    # The nightly re-check clears the flag of an account that now looks real: it earns again.
    Member.objects.filter(pk=bot.pk).update(weibo_followers=900, weibo_default_avatar=False)
    classify()
    bot.refresh_from_db()
    assert not bot.zombie_suspected
    assert earned(bot, "humans") == 30


def test_staff_choose_whether_a_rule_reaches_suspected_zombie_accounts_in_the_editor(client, tiers):
    client.force_login(StaffFactory())
    form = client.get("/admin/snippets/loyalty/earningrule/add/").content.decode()
    assert 'name="zombie_audience"' in form and "不含疑似僵尸号" in form
    response = client.post(
        "/admin/snippets/loyalty/earningrule/add/",
        {
            "name": "真人签到", "trigger": "daily_checkin", "points": "10",
            "pending_days": "0", "enabled": "on", "zombie_audience": "exclude",
            "multipliers-TOTAL_FORMS": "0", "multipliers-INITIAL_FORMS": "0",
            "multipliers-MIN_NUM_FORMS": "0", "multipliers-MAX_NUM_FORMS": "1000",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert EarningRule.objects.get(name="真人签到").zombie_audience == "exclude"


@pytest.mark.parametrize(
    ("zombies", "reached"), [("all", {"真人", "机器"}), ("exclude", {"真人"}), ("only", {"机器"})]
)
def test_a_segment_message_can_leave_out_or_target_suspected_zombie_accounts(
    client, manager, tiers, zombies, reached, django_capture_on_commit_callbacks
):
    healthy(display_name="真人", segment=Segment.CREATOR)
    zombie(display_name="机器", segment=Segment.CREATOR)
    healthy(display_name="别的分层", segment=Segment.CRITIC)
    page = client.get(NOTIFY_URL).content.decode()
    assert 'name="zombies"' in page and "仅疑似僵尸号" in page

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            NOTIFY_URL,
            {"segment": "creator", "zombies": zombies, "title": "创作者活动", "body": ""},
            follow=True,
        )
    assert f"通知正在发送给 {len(reached)} 位会员。" in response.content.decode()
    entry = AuditEntry.objects.get(action="members.segment_notified")
    assert entry.after["zombies"] == zombies and entry.after["recipients"] == len(reached)

    assert notify_segment(entry.pk) == len(reached)
    told = Member.objects.filter(user__notifications__title="创作者活动").values_list(
        "display_name", flat=True
    )
    assert set(told) == reached
