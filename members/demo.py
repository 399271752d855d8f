"""Demo tiers and staff login."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from members.models import Tier

DEMO_TIERS = [
    ("regular", "普通", 10, "#8a8a8a", "会员专属内容与活动报名"),
    ("silver", "银卡", 20, "#9aa5b1", "专属优惠，活动优先报名"),
    ("gold", "金卡", 30, "#c9a227", "金卡专属活动，积分加速 1.2 倍"),
    ("platinum", "白金卡", 40, "#5b5f97", "新品抢先看，白金专属旅行，积分加速 1.5 倍"),
]

DEMO_STAFF_USERNAME = "staff"
DEMO_STAFF_PASSWORD = "club-staff-2026"


def load() -> list[str]:
    for code, name, rank, colour, benefits in DEMO_TIERS:
        Tier.objects.update_or_create(
            code=code,
            defaults={"name": name, "rank": rank, "badge_colour": colour, "benefits": benefits},
        )
    User = get_user_model()
    staff, created = User.objects.get_or_create(
        username=DEMO_STAFF_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        staff.set_password(DEMO_STAFF_PASSWORD)
        staff.save(update_fields=["password"])
    return [f"Staff admin: {DEMO_STAFF_USERNAME} / {DEMO_STAFF_PASSWORD}"]
