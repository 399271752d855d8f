"""Demo tiers, staff login, members at every tier, applicants and invitation codes.

The members are bound to the Weibo sandbox's seeded users, so logging in through the sandbox
as 白金会员陈女士 makes you the platinum demo member.
"""

from __future__ import annotations

from datetime import timedelta

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.utils import timezone

from members.handles import normalise_handle
from members.models import (
    AdmissionDecision,
    AdmissionSettings,
    Application,
    Consent,
    CustomerRecord,
    InvitationCode,
    Member,
    Tier,
)
from members.selectors import current_consent_text

DEMO_TIERS = [
    ("regular", "普通", 10, "#8a8a8a", "会员专属内容与活动报名"),
    ("silver", "银卡", 20, "#9aa5b1", "专属优惠，活动优先报名"),
    ("gold", "金卡", 30, "#c9a227", "金卡专属活动，积分加速 1.2 倍"),
    ("platinum", "白金卡", 40, "#5b5f97", "新品抢先看，白金专属旅行，积分加速 1.5 倍"),
]

DEMO_STAFF_USERNAME = "staff"
DEMO_STAFF_PASSWORD = "club-staff-2026"

# (sandbox uid, screen name, state, tier code or None, followers)
DEMO_MEMBERS = [
    ("1001000011", "白金会员陈女士", Member.State.MEMBER, "platinum", 58200),
    ("1001000012", "金卡会员王先生", Member.State.MEMBER, "gold", 12400),
    ("1001000013", "银卡会员李小姐", Member.State.MEMBER, "silver", 2300),
    ("1001000014", "普通会员赵同学", Member.State.MEMBER, "regular", 410),
    ("1001000015", "申请者周先生", Member.State.APPLICANT, None, 180),
]

DEMO_INVITATION_CODES = ["WELCOME2026A", "WELCOME2026B", "WELCOME2026C"]
DEMO_MEMBERSHIP_NUMBERS = [("VIP-800001", "钱女士", "gold"), ("VIP-800002", "孙先生", "silver")]


def _demo_member(uid, name, state, tier, followers, consent_text, now):
    User = get_user_model()
    user, _created = User.objects.get_or_create(username=f"weibo_{uid}")
    if user.has_usable_password() or _created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    SocialAccount.objects.get_or_create(
        provider="weibo", uid=uid, defaults={"user": user, "extra_data": {"idstr": uid}}
    )
    member, created = Member.objects.get_or_create(
        user=user,
        defaults={
            "state": state,
            "tier": tier,
            "display_name": name,
            "weibo_uid": uid,
            "weibo_screen_name": name,
            "mention_handle": normalise_handle(name),
            "weibo_followers": followers,
            "weibo_friends": 300,
            "weibo_statuses": 900,
            "weibo_created_at": now - timedelta(days=3000),
            "joined_at": now - timedelta(days=400) if state == Member.State.MEMBER else None,
        },
    )
    Consent.objects.get_or_create(member=member, text=consent_text)
    if created and state == Member.State.MEMBER:
        AdmissionDecision.objects.create(
            member=member,
            outcome=AdmissionDecision.Outcome.ADMITTED,
            route=AdmissionDecision.Route.STAFF,
            reason="演示数据",
        )
    if state == Member.State.APPLICANT:
        Application.objects.get_or_create(
            member=member, defaults={"message": "我是品牌十年的老顾客，希望加入俱乐部。"}
        )
    return member


def load() -> list[str]:
    tiers = {}
    for code, name, rank, colour, benefits in DEMO_TIERS:
        tiers[code], _ = Tier.objects.update_or_create(
            code=code,
            defaults={"name": name, "rank": rank, "badge_colour": colour, "benefits": benefits},
        )
    settings_ = AdmissionSettings.load()
    if settings_.default_tier_id is None:
        settings_.default_tier = tiers["regular"]
        settings_.save(update_fields=["default_tier"])

    User = get_user_model()
    staff, created = User.objects.get_or_create(
        username=DEMO_STAFF_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        staff.set_password(DEMO_STAFF_PASSWORD)
        staff.save(update_fields=["password"])

    now = timezone.now()
    consent_text = current_consent_text()
    for uid, name, state, tier_code, followers in DEMO_MEMBERS:
        _demo_member(uid, name, state, tiers.get(tier_code), followers, consent_text, now)

    for code in DEMO_INVITATION_CODES:
        InvitationCode.objects.get_or_create(
            code=code, defaults={"batch": "demo", "created_by": staff, "max_uses": 1}
        )
    for number, name, tier_code in DEMO_MEMBERSHIP_NUMBERS:
        CustomerRecord.objects.get_or_create(
            membership_number=number, defaults={"name": name, "tier": tiers[tier_code]}
        )

    unused = InvitationCode.objects.filter(code__in=DEMO_INVITATION_CODES, uses=0)
    return [
        f"Staff admin: {DEMO_STAFF_USERNAME} / {DEMO_STAFF_PASSWORD}",
        "Members: log in with Weibo (the sandbox) as 白金会员陈女士 / 金卡会员王先生 / "
        "银卡会员李小姐 / 普通会员赵同学; 申请者周先生 is on the waitlist",
        "New applicants: pick 小雨Rain or 时尚博主Lily at the sandbox; invitation codes: "
        + (", ".join(c.code for c in unused) or "(all used)"),
        "Membership numbers to verify: " + ", ".join(n for n, _, _ in DEMO_MEMBERSHIP_NUMBERS),
    ]
