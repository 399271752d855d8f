"""Demo points programme: validity policy, tier thresholds, earning rules, rewards (some nearly
sold out, a coupon pool) and a history for each demo member with expiries and pending points.

Idempotent: histories are written through the services with fixed natural keys and request
keys, so running it again awards, spends and expires nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from core.demo_art import demo_image
from loyalty import services
from loyalty.models import (
    EarningRule,
    EarningRuleMultiplier,
    LoyaltySettings,
    PointsEntry,
    Redemption,
    Reward,
    TierRequirement,
    Trigger,
)
from loyalty.services import _core
from members.models import Member, Tier

THRESHOLDS = {"regular": 0, "silver": 1000, "gold": 5000, "platinum": 15000}
MULTIPLIERS = {"gold": Decimal("1.2"), "platinum": Decimal("1.5")}

# name, trigger, points, pending days, caps (day, week, month, lifetime), event code, multiplied,
# target tiers, description
RULES = [
    ("入会礼", Trigger.JOINED, 200, 0, (None, None, None, 1), "", False, [], "欢迎加入俱乐部"),
    ("每日签到", Trigger.DAILY_CHECKIN, 10, 0, (1, None, None, None), "", True, [], "每天一次"),
    ("完善资料", Trigger.PROFILE_COMPLETED, 100, 0, (None, None, None, 1), "", False, [], ""),
    ("评论通过审核", Trigger.COMMENT_APPROVED, 20, 0, (5, None, None, None), "", True, [],
     "每天最多 5 次"),
    ("参加活动", Trigger.ACTIVITY_ATTENDED, 300, 7, (None, None, None, None), "", True, [],
     "签到确认后 7 天到账"),
    ("领取优惠", Trigger.OFFER_CLAIMED, 10, 0, (3, None, None, None), "", False, [], ""),
    ("分享到微博", Trigger.SHARE_VERIFIED, 50, 3, (3, None, 30, None), "", True, [],
     "分享确认后 3 天到账，每天最多 3 次"),
    ("邀请好友入会", Trigger.REFERRAL_JOINED, 500, 0, (None, None, 5, None), "", False, [], ""),
    ("分享带来入会申请", Trigger.SHARE_REFERRAL_APPLIED, 20, 0, (None, None, 10, None), "", False,
     [], "朋友通过你的分享链接申请入会"),
    ("分享带来新会员", Trigger.SHARE_REFERRAL_ADMITTED, 300, 7, (None, None, 5, None), "", False,
     [], "朋友通过你的分享入会后 7 天到账"),
    ("生日礼", Trigger.BIRTHDAY, 300, 0, (None, None, None, None), "", False, [], "每年一次"),
    ("升级礼", Trigger.TIER_REACHED, 500, 0, (None, None, None, None), "", False,
     ["gold", "platinum"], "升级到金卡或白金卡时赠送"),
    ("门店大额消费", Trigger.CUSTOM, 2000, 0, (None, None, None, None), "vip_purchase", True, [],
     "门店单笔消费满 2 万元"),
]  # fmt: skip

# name, cost, fulfilment, stock, min tier, per member, per period, codes, redeemable in days
REWARDS = [
    ("品牌咖啡券", 300, Reward.Fulfilment.COUPON, 3, None, None, 2, 3, None,
     "门店任意咖啡一杯，券码 30 天内有效。"),
    ("定制帆布袋", 1500, Reward.Fulfilment.PHYSICAL, 2, None, 1, None, 0, None,
     "俱乐部限定设计，数量有限。"),
    ("新品香氛小样", 800, Reward.Fulfilment.PHYSICAL, 50, "silver", None, 1, 0, None,
     "每月限兑一次。"),
    ("为山区孩子捐一本书", 200, Reward.Fulfilment.DONATION, None, None, None, None, 0, None,
     "我们每月汇总捐赠给合作公益机构。"),
    ("金卡专属下午茶券", 2000, Reward.Fulfilment.COUPON, 10, "gold", 2, None, 10, None,
     "两人份下午茶。"),
    ("白金专属：品牌工坊之旅", 12000, Reward.Fulfilment.PHYSICAL, 5, "platinum", 1, None, 0, None,
     "走进品牌工坊，含往返交通。"),
    ("限量联名款（即将开放）", 5000, Reward.Fulfilment.PHYSICAL, 20, None, 1, None, 0, 7,
     "开放兑换前可以先看看。"),
]  # fmt: skip

SHIPPING = services.Shipping(
    name="演示收货人", phone="13800000000", address="上海市静安区演示路 1 号"
)


def _settings() -> None:
    settings_ = LoyaltySettings.load()
    settings_.expiry_policy = LoyaltySettings.ExpiryPolicy.END_OF_MONTH
    settings_.expiry_months = 12
    settings_.reminder_days = 30
    settings_.save()


def _tiers() -> dict[str, Tier]:
    tiers = {tier.code: tier for tier in Tier.objects.filter(code__in=THRESHOLDS)}
    for code, threshold in THRESHOLDS.items():
        if code in tiers:
            TierRequirement.objects.update_or_create(
                tier=tiers[code], defaults={"threshold": threshold}
            )
    return tiers


def _rules(tiers: dict[str, Tier]) -> None:
    for name, trigger, points, pending, caps, code, multiplied, targets, text in RULES:
        rule, _created = EarningRule.objects.update_or_create(
            name=name,
            defaults={
                "trigger": trigger, "points": points, "pending_days": pending,
                "cap_per_day": caps[0], "cap_per_week": caps[1], "cap_per_month": caps[2],
                "cap_lifetime": caps[3], "event_code": code, "description": text,
                "enabled": True,
            },
        )  # fmt: skip
        rule.target_tiers.set([tiers[c] for c in targets if c in tiers])
        rule.save()
        if multiplied:
            for tier_code, factor in MULTIPLIERS.items():
                if tier_code in tiers:
                    EarningRuleMultiplier.objects.update_or_create(
                        rule=rule, tier=tiers[tier_code], defaults={"multiplier": factor}
                    )


def _rewards(tiers: dict[str, Tier], now) -> dict[str, Reward]:
    rewards = {}
    for order, row in enumerate(REWARDS):
        name, cost, kind, stock, tier, per_member, per_period, codes, opens, text = row
        reward = Reward.objects.filter(name=name).first()
        if reward is None:
            reward = Reward.objects.create(
                name=name, cost=cost, fulfilment=kind, stock_total=stock,
                min_tier=tiers.get(tier) if tier else None, limit_per_member=per_member,
                limit_per_period=per_period, description=text, sort_order=order,
                redeemable_from=now + timedelta(days=opens) if opens else None,
            )  # fmt: skip
        if reward.image_id is None:  # a drawn picture for the catalogue (core.demo_art)
            reward.image = demo_image(f"reward-{order + 1}", "reward")
            reward.save(update_fields=["image"])
        if codes and not reward.coupon_codes.exists():  # uploads are audited: fill once
            services.coupon_codes_add(
                reward=reward,
                codes=[f"DEMO-{reward.pk:03d}-{n:04d}" for n in range(1, codes + 1)],
                actor=None,
            )
        rewards[name] = reward
    return rewards


def _history(member: Member, steps: list[tuple], rewards: dict[str, Reward], now) -> None:
    """Replay a member's history in time order through the services."""
    staff = get_user_model().objects.filter(username="staff").first()
    uid = member.weibo_uid
    for number, (days_ago, action, arg) in enumerate(steps, start=1):
        at = now - timedelta(days=days_ago, hours=number % 5)
        key = f"demo:{uid}:{number}"
        if action == "vip":
            services.points_award_for_event(
                member=member, trigger=Trigger.CUSTOM, event_code="vip_purchase",
                natural_key=key, reference=("demo", number), now=at,
            )  # fmt: skip
        elif action in ("activity", "share", "comment", "checkin"):
            trigger = {
                "activity": Trigger.ACTIVITY_ATTENDED, "share": Trigger.SHARE_VERIFIED,
                "comment": Trigger.COMMENT_APPROVED, "checkin": Trigger.DAILY_CHECKIN,
            }[action]  # fmt: skip
            services.points_award_for_event(
                member=member, trigger=trigger, natural_key=key, reference=("demo", number), now=at
            )
            if arg == "confirm":
                services.points_pending_approve(
                    member=member, natural_key=key, now=at + timedelta(days=7)
                )
        elif action == "redeem":
            reward = rewards[arg]
            result = services.reward_redeem(
                member=member, reward=reward, idempotency_key=f"demo-{uid}-{number}",
                shipping=SHIPPING, now=at,
            )  # fmt: skip
            if result.redemption.state == Redemption.State.REQUESTED and staff and days_ago > 30:
                services.redemption_fulfil(
                    redemption=result.redemption, actor=staff, note="演示：已寄出",
                    now=at + timedelta(days=2),
                )  # fmt: skip
        elif action == "expire":
            services.points_expire_account(member=member, now=now)


HISTORIES = {
    "1001000011": [  # platinum: ~16 000 earned in 12 months; an old lot partly spent, expired
        (540, "vip", None), (500, "redeem", "为山区孩子捐一本书"), (0, "expire", None),
        (340, "vip", None), (250, "vip", None), (200, "activity", "confirm"),
        (180, "vip", None), (120, "activity", "confirm"), (90, "vip", None), (30, "vip", None),
        (20, "redeem", "品牌咖啡券"), (5, "checkin", None), (4, "checkin", None),
        (3, "checkin", None), (1, "share", None),
    ],
    "1001000012": [  # gold: ~5 200 earned; a requested canvas bag waits in the staff queue
        (600, "activity", "confirm"), (580, "redeem", "为山区孩子捐一本书"), (0, "expire", None),
        (330, "vip", None), (150, "vip", None), (60, "activity", "confirm"),
        (10, "comment", None), (9, "comment", None), (8, "comment", None),
        (5, "redeem", "定制帆布袋"), (3, "activity", None),
    ],
    "1001000013": [  # silver: ~2 000 earned; an old lot expired; a sample shipped
        (450, "vip", None), (430, "redeem", "为山区孩子捐一本书"), (0, "expire", None),
        (345, "comment", None), (200, "vip", None), (100, "redeem", "新品香氛小样"),
        (2, "share", None),
    ],
    "1001000014": [  # regular: a few comments, one expired activity bonus, one pending
        (420, "activity", "confirm"), (0, "expire", None), (60, "comment", None),
        (59, "comment", None), (58, "comment", None), (2, "activity", None),
    ],
}  # fmt: skip


def load() -> list[str]:
    now = timezone.now()
    _settings()
    tiers = _tiers()
    _rules(tiers)
    rewards = _rewards(tiers, now)
    for uid, steps in HISTORIES.items():
        member = Member.objects.select_related("tier", "user").filter(weibo_uid=uid).first()
        if member is None or member.state != Member.State.MEMBER:
            continue
        if PointsEntry.objects.filter(idempotency_key__contains=f"demo:{uid}:").exists():
            continue  # the history is in place; replaying it would change nothing anyway
        _open_account(member, now)
        ordered = sorted(steps, key=lambda step: -step[0] if step[1] != "expire" else 0)
        _history(member, ordered, rewards, now)
    return [
        "Points: members see /points/ (balance, tier, history, expiry calendar, rewards); "
        "staff: /admin/points/redemptions/ (fulfilment queue), /admin/points/liability/",
    ]


def _open_account(member: Member, now) -> None:
    """Open the account today (not at the first backdated event): evaluation is a year away."""
    with transaction.atomic():
        _core.account_lock(member.pk, now=now)
