"""Demo partner for ``load_demo``: a hotel with a fixed demo key, so the partner simulator can
run against ``./run`` straight away. Idempotent; never used outside the demo."""

from __future__ import annotations

from decimal import Decimal

from core import crypto
from loyalty.models import Partner
from partners.models import PartnerKey

DEMO_KEY_ID = "pk_demo_xinghe"
DEMO_SECRET = "demo-only-secret-xinghe-2026"


def load() -> list[str]:
    partner, _created = Partner.objects.get_or_create(
        code="xinghe",
        defaults={
            "name": "星河酒店",
            "contact_name": "合作部",
            "point_value": Decimal("0.0100"),
            "shared_fields": ["display_name", "tier"],
            "purpose": "核对住客的会员身份与等级，为住宿累积和使用俱乐部积分。",
            "earn_limit_day": 5000,
            "burn_limit_day": 5000,
        },
    )
    if not PartnerKey.objects.filter(key_id=DEMO_KEY_ID).exists():
        PartnerKey.objects.create(
            partner=partner, key_id=DEMO_KEY_ID, secret_encrypted=crypto.encrypt(DEMO_SECRET)
        )
    return [
        "Partner 星河酒店: staff see /admin/partners/; simulate its till with "
        f"`.venv/bin/python -m bench.partner_simulator --base-url <site> --key-id {DEMO_KEY_ID} "
        f"--secret {DEMO_SECRET}` and confirm the printed code as a member under 我的 → 合作伙伴",
    ]
