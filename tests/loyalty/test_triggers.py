"""Every trigger fires: birthdays, a completed profile, the tier-at-risk notice, the qualifying
window staff set. Each from what the member does (or the day passing, by running the real job)
to the ledger entry or the notification the member sees."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from config.celery import app as celery_app
from core import roles
from core.models import AuditEntry, Notification, is_pseudonym
from loyalty import services
from loyalty.models import EarningRule, LoyaltySettings, PointsAccount, PointsEntry, TierChange
from loyalty.tasks import award_profile_completed
from members import services as services_members
from members.models import Member
from members.services import Birthday, BirthdayLocked, member_profile_update
from tests.conftest import wait_until
from tests.factories import MemberFactory, UserFactory
from tests.loyalty.conftest import account, at, earn, staff_with

pytestmark = pytest.mark.django_db

PROFILE_URL = "/members/me/profile/"


@pytest.fixture
def birthday_rule(db):
    return EarningRule.objects.create(name="生日礼", trigger="birthday", points=300)


@pytest.fixture
def profile_rule(db):
    return EarningRule.objects.create(
        name="完善资料", trigger="profile_completed", points=100, cap_lifetime=1
    )


def birthday_entries(member) -> list[tuple[int, str]]:
    return list(
        PointsEntry.objects.filter(account__member=member, rule__trigger="birthday")
        .order_by("pk")
        .values_list("amount", "idempotency_key")
    )


def with_birthday(member, month: int, day: int, *, set_at, year: int | None = None) -> Member:
    return member_profile_update(
        member=member, display_name=member.display_name, birthday=Birthday(month, day, year),
        now=set_at,
    )  # fmt: skip


# --- Birthday ------------------------------------------------------------------------------------


def test_the_birthday_job_awards_once_on_the_day_in_the_clubs_time_zone(member, birthday_rule):
    with_birthday(member, 3, 15, set_at=at(2026, 12, 7))

    # 23:30 in Shanghai on the 14th is already the 15th nowhere that matters here: not yet.
    assert services.points_award_birthdays(now=at(2027, 3, 14, 23)) == 0
    # 00:10 on the 15th in Shanghai (16:10 UTC on the 14th): the birthday has come.
    midnight_ten = at(2027, 3, 15, 0) + timedelta(minutes=10)
    assert midnight_ten.astimezone(UTC).day == 14
    assert services.points_award_birthdays(now=midnight_ten) == 1
    assert services.points_award_birthdays(now=midnight_ten) == 0  # safe to run twice
    assert services.points_award_birthdays(now=at(2027, 3, 20)) == 0  # once per year
    assert birthday_entries(member) == [
        (300, f"award:r{birthday_rule.pk}:birthday:{member.pk}:2027")
    ]
    assert account(member).balance == 300
    assert Notification.objects.filter(user=member.user, title="获得 300 积分").exists()

    assert services.points_award_birthdays(now=at(2028, 3, 15)) == 1  # next year, again
    assert account(member).balance == 600


def test_a_missed_day_is_caught_up_within_the_month_and_not_after(tiers, policy, birthday_rule):
    caught, missed = MemberFactory(tier=tiers["regular"]), MemberFactory(tier=tiers["regular"])
    with_birthday(caught, 3, 15, set_at=at(2026, 12, 7))
    with_birthday(missed, 2, 27, set_at=at(2026, 12, 7))

    # The job did not run from 27 February to 19 March.
    assert services.points_award_birthdays(now=at(2027, 3, 20)) == 1
    assert len(birthday_entries(caught)) == 1
    assert birthday_entries(missed) == []  # February is over: the gift is gone for this year


def test_a_leap_day_birthday_is_celebrated_on_28_february_in_other_years(member, birthday_rule):
    with_birthday(member, 2, 29, year=2004, set_at=at(2026, 12, 7))
    assert services.points_award_birthdays(now=at(2027, 2, 27)) == 0
    assert services.points_award_birthdays(now=at(2027, 2, 28)) == 1
    assert services.points_award_birthdays(now=at(2028, 2, 28)) == 0  # 2028 has a 29th
    assert services.points_award_birthdays(now=at(2028, 2, 29)) == 1
    assert [key[-4:] for _amount, key in birthday_entries(member)] == ["2027", "2028"]


def test_a_birthday_given_on_the_day_counts_from_next_year(member, birthday_rule):
    with_birthday(member, 6, 1, set_at=at(2027, 6, 1, 9))
    assert services.points_award_birthdays(now=at(2027, 6, 1, 10)) == 0
    assert services.points_award_birthdays(now=at(2027, 6, 30)) == 0
    assert services.points_award_birthdays(now=at(2028, 6, 1)) == 1


def test_no_birthday_award_for_suspended_members_or_excluded_zombie_accounts(
    tiers, policy, birthday_rule
):
    birthday_rule.zombie_audience = "exclude"
    birthday_rule.save()
    person = MemberFactory(tier=tiers["regular"])
    bot = MemberFactory(tier=tiers["regular"], zombie_suspected=True)
    suspended = MemberFactory(tier=tiers["regular"])
    for member in (person, bot, suspended):
        with_birthday(member, 5, 5, set_at=at(2026, 12, 7))
    Member.objects.filter(pk=suspended.pk).update(state=Member.State.SUSPENDED)
    assert services.points_award_birthdays(now=at(2027, 5, 5)) == 1
    assert [len(birthday_entries(m)) for m in (person, bot, suspended)] == [1, 0, 0]


def test_the_member_gives_a_birthday_in_their_profile_and_is_paid_on_the_day(
    client, member, birthday_rule
):
    client.force_login(member.user)
    page = client.get(PROFILE_URL).content.decode()
    assert 'name="birthday_month"' in page and 'name="display_name"' in page
    response = client.post(
        PROFILE_URL,
        {"display_name": member.display_name, "birthday_month": "1", "birthday_day": "20"},
        follow=True,
    )
    assert "个人资料已保存。" in response.content.decode()
    next_birthday = timezone.localdate().replace(month=1, day=20)
    if next_birthday <= timezone.localdate():
        next_birthday = next_birthday.replace(year=next_birthday.year + 1)
    on_the_day = at(next_birthday.year, 1, 20, 8)
    assert services.points_award_birthdays(now=on_the_day) == 1
    assert account(member).balance == 300


# --- The profile form --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"birthday_month": "2", "birthday_day": "30"}, "这个日期不存在"),
        ({"birthday_month": "4", "birthday_day": "31"}, "这个日期不存在"),
        ({"birthday_month": "2", "birthday_day": "29", "birthday_year": "2001"}, "这个日期不存在"),
        ({"birthday_month": "5", "birthday_day": ""}, "请同时选择生日的月份和日期"),
        ({"birthday_year": "1990"}, "请先选择生日的月份和日期"),
        ({"birthday_month": "5", "birthday_day": "5", "birthday_year": "2999"}, "errorlist"),
        ({"display_name": " "}, "errorlist"),
    ],
)
def test_the_profile_form_refuses_dates_that_do_not_exist(client, member, fields, error):
    client.force_login(member.user)
    response = client.post(PROFILE_URL, {"display_name": "新名字", **fields})
    assert response.status_code == 200
    assert error in response.content.decode()
    member.refresh_from_db()
    assert member.birthday_month is None and member.display_name != "新名字"
    assert not AuditEntry.objects.filter(action="member.profile_changed").exists()


def test_a_birthday_is_set_once_and_audited_as_the_members_own_change(client, member):
    client.force_login(member.user)
    client.post(
        PROFILE_URL,
        {"display_name": "小林", "birthday_month": "7", "birthday_day": "8",
         "birthday_year": "1990"},
    )  # fmt: skip
    entry = AuditEntry.objects.get(action="member.profile_changed")
    assert entry.actor is None and entry.actor_label == "member_request"
    assert set(entry.after) == {"display_name", "birthday", "profile_completed"}
    # The birthday and the name are personal data: pseudonyms in the trail, resolved for display.
    assert is_pseudonym(entry.after["birthday"]) and is_pseudonym(entry.after["display_name"])

    # A second attempt (even a hand-made request) leaves the birthday as it was.
    page = client.get(PROFILE_URL).content.decode()
    assert "生日填写后不能自行修改" in page and 'name="birthday_month"' not in page
    client.post(PROFILE_URL, {"display_name": "小林", "birthday_month": "1", "birthday_day": "1"})
    member.refresh_from_db()
    assert (member.birthday_year, member.birthday_month, member.birthday_day) == (1990, 7, 8)
    with pytest.raises(BirthdayLocked):
        member_profile_update(member=member, display_name="小林", birthday=Birthday(1, 1))
    # Saving the same birthday again is no change at all.
    member_profile_update(member=member, display_name="小林", birthday=Birthday(7, 8, 1990))
    assert AuditEntry.objects.filter(action="member.profile_changed").count() == 1


def test_staff_correct_a_birthday_with_a_reason_and_it_is_never_paid_twice_a_year(
    client, member, birthday_rule
):
    roles.roles_sync()
    manager = UserFactory(is_staff=True)
    manager.groups.add(Group.objects.get(name=roles.MEMBER_MANAGER))
    with_birthday(member, 7, 8, set_at=at(2026, 12, 7))
    url = f"/admin/members/{member.pk}/birthday/"
    client.force_login(manager)
    detail = client.get(f"/admin/members/{member.pk}/").content.decode()
    assert 'data-testid="birthday-form"' in detail

    response = client.post(url, {"birthday-month": "7", "birthday-day": "18"}, follow=True)
    assert "原因（必填）" in response.content.decode()
    response = client.post(
        url,
        {"birthday-month": "7", "birthday-day": "18", "birthday-reason": "会员来电：填错了日期"},
        follow=True,
    )
    assert "生日已更正。" in response.content.decode()
    page = client.get(f"/admin/members/{member.pk}/").content.decode()
    assert '<td data-testid="member-birthday">7-18</td>' in page
    entry = AuditEntry.objects.get(action="member.birthday_corrected")
    assert entry.actor == manager and entry.reason == "会员来电：填错了日期"
    assert is_pseudonym(entry.before["birthday"]) and is_pseudonym(entry.after["birthday"])

    # Paid on the corrected day; a second correction after it pays nothing more that year.
    assert services.points_award_birthdays(now=at(2027, 7, 18)) == 1
    services_members.member_birthday_correct(
        member=member, birthday=Birthday(7, 25), actor=manager, reason="再次更正",
        now=at(2027, 7, 20),
    )  # fmt: skip
    assert services.points_award_birthdays(now=at(2027, 7, 25)) == 0
    assert services.points_award_birthdays(now=at(2028, 7, 25)) == 1

    # Only those who may change members may correct.
    client.force_login(staff_with("members.view_member"))
    assert client.post(url, {"birthday-month": "1", "birthday-day": "1",
                             "birthday-reason": "x"}).status_code == 403  # fmt: skip
    member.refresh_from_db()
    assert (member.birthday_month, member.birthday_day) == (7, 25)


# --- Profile completed -------------------------------------------------------------------------


def test_completing_the_profile_pays_once_for_ever(
    client, member, profile_rule, django_capture_on_commit_callbacks
):
    client.force_login(member.user)
    client.post(PROFILE_URL, {"display_name": "只改名字"})
    member.refresh_from_db()
    assert member.profile_completed_at is None  # no birthday yet: not complete
    assert award_profile_completed(member.pk) == 0

    with django_capture_on_commit_callbacks(execute=False):  # the worker test runs the enqueue
        client.post(
            PROFILE_URL,
            {"display_name": "只改名字", "birthday_month": "9", "birthday_day": "9"},
        )
    member.refresh_from_db()
    assert member.profile_completed_at is not None
    # What the worker runs, run here twice (a redelivered task): one award.
    assert award_profile_completed(member.pk) == 1
    assert award_profile_completed(member.pk) == 0
    entries = PointsEntry.objects.filter(account__member=member, rule=profile_rule)
    assert list(entries.values_list("amount", "idempotency_key")) == [
        (100, f"award:r{profile_rule.pk}:profile:{member.pk}")
    ]

    # Later edits change nothing, and neither does the sweep.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PROFILE_URL, {"display_name": "又改名字"})
    assert services.member_events_sweep() == 0
    assert account(member).balance == 100


def test_the_sweep_pays_a_completed_profile_whose_task_was_lost(
    member, profile_rule, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the enqueue never happens
        with_birthday(member, 4, 4, set_at=timezone.now())
    assert services.member_events_sweep() == 1
    assert services.member_events_sweep() == 0
    assert account(member).balance == 100


# --- Tier at risk ------------------------------------------------------------------------------


def gold_member(tiers):
    """Gold since 1 March 2026 (3000 + 2000 earned); evaluation on 10 January 2027."""
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 3000, at(2026, 1, 10))
    earn(member, 2000, at(2026, 3, 1))
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    assert account(member).tier_evaluation_on.isoformat() == "2027-01-10"
    return member


def at_risk_notices(member):
    return Notification.objects.filter(user=member.user, kind=Notification.Kind.TIER_AT_RISK)


def test_a_member_is_told_30_days_ahead_that_the_evaluation_would_downgrade_them(tiers, policy):
    member = gold_member(tiers)
    assert services.tiers_warn_at_risk(now=at(2026, 12, 9)) == 0  # 32 days ahead
    assert services.tiers_warn_at_risk(now=at(2026, 12, 12)) == 1
    notice = at_risk_notices(member).get()
    assert notice.title == "您的金卡等级将在 2027-01-10 评估时调整"
    # Only the 2000 of March will still be inside the 12 months ending on 10 January.
    assert notice.body == (
        "按目前计入的 2000 积分，评估后您将调整为银卡。"
        "在 2027-01-10 前再获得 2500 积分即可保留金卡等级。"
    )
    assert notice.link == "/points/"
    assert services.tiers_warn_at_risk(now=at(2026, 12, 13)) == 0  # once per evaluation
    assert services.tiers_warn_at_risk(now=at(2027, 1, 9)) == 0

    # The forecast is what the evaluation then does.
    assert services.tiers_evaluate_due(now=at(2027, 1, 10, 1)) == {"downgraded": 1}
    member.refresh_from_db()
    assert member.tier == tiers["silver"]
    assert TierChange.objects.filter(kind="downgrade").get().to_tier == tiers["silver"]


def test_no_notice_for_members_on_course_to_keep_their_tier(tiers, policy):
    member = gold_member(tiers)
    earn(member, 2500, at(2026, 11, 1))  # 4500 inside the window: exactly the keep line
    assert services.tiers_warn_at_risk(now=at(2026, 12, 12)) == 0
    assert not at_risk_notices(member).exists()
    assert services.tiers_evaluate_due(now=at(2027, 1, 10, 1)) == {"kept": 1}


def test_the_notice_period_is_a_setting_and_zero_turns_it_off(tiers, policy):
    member = gold_member(tiers)
    policy.tier_risk_notice_days = 45
    policy.save()
    assert services.tiers_warn_at_risk(now=at(2026, 11, 30)) == 1  # 41 days ahead
    other = gold_member(tiers)
    policy.tier_risk_notice_days = 0
    policy.save()
    assert services.tiers_warn_at_risk(now=at(2026, 12, 20)) == 0
    assert at_risk_notices(member).count() == 1 and not at_risk_notices(other).exists()


def test_a_grace_period_past_the_evaluation_moves_the_notice_with_it(tiers, policy):
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 3000, at(2026, 1, 10))  # silver; the account opens: evaluation 2027-01-10
    earn(member, 2000, at(2026, 12, 1))  # gold on 1 December; 90 days' grace to 1 March
    assert services.tiers_warn_at_risk(now=at(2026, 12, 20)) == 0  # no downgrade on 10 Jan
    assert services.tiers_evaluate_due(now=at(2027, 1, 10, 1)) == {"grace": 1}
    assert services.tiers_warn_at_risk(now=at(2027, 1, 20)) == 0  # 40 days ahead
    assert services.tiers_warn_at_risk(now=at(2027, 2, 5)) == 1
    assert at_risk_notices(member).get().title == "您的金卡等级将在 2027-03-01 评估时调整"


def test_the_notice_is_written_in_the_members_language(tiers, policy):
    member = gold_member(tiers)
    Member.objects.filter(pk=member.pk).update(language="en")
    services.tiers_warn_at_risk(now=at(2026, 12, 12))
    with translation.override("en"):
        expected = _("您的%(tier)s等级将在 %(date)s 评估时调整") % {
            "tier": "金卡",
            "date": "2027-01-10",
        }
    assert at_risk_notices(member).get().title == expected


# --- The qualifying window ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("months", "outcome", "tier"), [(12, "kept", "gold"), (6, "downgraded", "silver")]
)
def test_the_qualifying_window_staff_set_decides_the_evaluation(
    client, tiers, policy, months, outcome, tier
):
    policy.qualifying_months = months
    policy.save()
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 100, at(2026, 1, 10))  # evaluation 2027-01-10
    earn(member, 4900, at(2026, 3, 1))  # gold (within 6 months of 1 March, too)
    earn(member, 1000, at(2026, 9, 1))
    member.refresh_from_db()
    assert member.tier == tiers["gold"]
    # 12 months to 10 January: 5900 ≥ 4500 keeps gold; 6 months: 1000 → silver.
    assert services.tiers_evaluate_due(now=at(2027, 1, 10, 1)) == {outcome: 1}
    member.refresh_from_db()
    assert member.tier == tiers[tier]
    client.force_login(member.user)
    assert f"近 {months} 个月获得积分" in client.get("/points/").content.decode()


def test_a_shorter_window_can_keep_a_member_from_an_upgrade(tiers, policy):
    policy.qualifying_months = 3
    policy.save()
    member = MemberFactory(tier=tiers["regular"])
    earn(member, 600, at(2026, 1, 10))
    earn(member, 600, at(2026, 5, 1))  # 1200 in 12 months, but 600 in the last 3
    member.refresh_from_db()
    assert member.tier == tiers["regular"]
    assert LoyaltySettings.load().qualifying_months == 3


# --- Real worker -------------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_triggers_fire_in_a_real_worker(celery_worker_process, client, tiers, policy):
    EarningRule.objects.create(name="生日礼", trigger="birthday", points=300)
    EarningRule.objects.create(name="完善资料", trigger="profile_completed", points=100)
    today = timezone.localdate()

    # The member's own save completes the profile: the task it enqueues pays.
    member = MemberFactory(tier=tiers["regular"])
    client.force_login(member.user)
    client.post(PROFILE_URL, {"display_name": "小周", "birthday_month": "3", "birthday_day": "3"})
    assert wait_until(
        lambda: PointsEntry.objects.filter(account__member=member, reason="完善资料").exists(),
        timeout=30,
    )

    # The day passing: a birthday today, on file since yesterday.
    celebrant = MemberFactory(
        tier=tiers["regular"], birthday_month=today.month, birthday_day=today.day,
        birthday_set_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    assert celery_app.send_task("loyalty.award_birthdays").get(timeout=30) == 1
    assert celery_app.send_task("loyalty.award_birthdays").get(timeout=30) == 0
    assert PointsAccount.objects.get(member=celebrant).balance == 300

    # A gold member whose evaluation in 20 days would drop them: what they earned 350 days ago
    # will be outside the 12 months that end on that day.
    risky = MemberFactory(tier=tiers["regular"])
    earn(risky, 5000, timezone.now() - timedelta(days=350))
    PointsAccount.objects.filter(member=risky).update(tier_evaluation_on=today + timedelta(days=20))
    assert celery_app.send_task("loyalty.warn_tier_at_risk").get(timeout=30) == 1
    assert celery_app.send_task("loyalty.warn_tier_at_risk").get(timeout=30) == 0
    notice = Notification.objects.get(user=risky.user, kind=Notification.Kind.TIER_AT_RISK)
    assert notice.title.startswith("您的金卡等级将在")
