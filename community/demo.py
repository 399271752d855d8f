"""Demo pages: the landing page, the community home and items at every tier.

Every gated item's text after the paywall cut carries a marker ``机密-<slug>`` so that leak tests
can prove it never reaches a viewer without access.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import Locale, Page, Site

from community.models import (
    ActivityPage,
    CommunityHome,
    GatedPage,
    LandingPage,
    OfferPage,
    PostPage,
)
from core.demo_art import demo_image as _image
from members.models import Tier

LANDING_INTRO = (
    "<p>这里是品牌高端会员的专属社区：会员专享文章、优惠与活动，按会员等级开放。"
    "参与活动赚取积分，兑换礼遇；一键分享到微博，邀请好友加入。</p>"
)


def secret_marker(slug: str) -> str:
    return f"机密-{slug}"


def _body(slug: str, intro: str, secret: str, secret_image=None, cut: bool = True) -> list:
    blocks = [("paragraph", f"<p>{intro}</p>")]
    if cut:
        blocks.append(("paywall", None))
    blocks.append(("paragraph", f"<p>{secret}（{secret_marker(slug)}）</p>"))
    if secret_image is not None:
        blocks.append(("image", {"image": secret_image, "caption": f"{secret_marker(slug)} 图"}))
    return blocks


DEMO_ITEMS = [
    # slug, model, title, summary, access, tier rule, extra
    ("welcome", PostPage, "欢迎来到会员俱乐部", "俱乐部是什么、能做什么。", "public", None, {}),
    ("behind-the-collection", PostPage, "2026 春夏系列幕后故事", "设计团队讲述新系列的灵感。",
     "members", None, {}),
    ("milan-backstage", PostPage, "金卡专享：米兰时装周后台探访", "跟随我们的编辑走进秀场后台。",
     "min_tier", "gold", {}),
    ("platinum-watch-preview", PostPage, "白金私享：限量腕表预览", "仅向白金卡会员开放。",
     "tiers", ["platinum"], {"hide_when_locked": True}),
    ("silver-coupon", OfferPage, "银卡专享：全场 8 折券", "银卡及以上会员每人限领一张。",
     "min_tier", "silver", {"total_stock": 20, "per_member_limit": 1}),
    ("presale-early-access", OfferPage, "新品预售：白金会员抢先购",
     "白金卡会员抢先 48 小时，之后向金卡开放。",
     "min_tier", "gold", {"early_access_tier": "platinum", "early_hours": 48, "total_stock": 5,
                          "per_member_limit": 1, "code_mode": "shared"}),
    ("milan-trip", ActivityPage, "米兰之旅 2026", "金卡及以上会员专属旅行，名额 10 人。",
     "min_tier", "gold", {"capacity": 10, "place": "意大利 米兰"}),
    ("shanghai-tasting", ActivityPage, "上海品鉴会", "会员专属线下品鉴，名额 30 人。",
     "members", None, {"capacity": 30, "place": "上海 静安区"}),
]  # fmt: skip


def _ensure_root_structure() -> tuple[LandingPage, CommunityHome]:
    # A flushed database (transactional tests) lacks what Wagtail's migrations create.
    Locale.objects.get_or_create(
        language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE)
    )
    from wagtail.models import Collection

    if Collection.get_first_root_node() is None:
        Collection.add_root(name="Root")
    landing = LandingPage.objects.first()
    if landing is None:
        root = Page.get_first_root_node() or Page.add_root(
            instance=Page(
                title="Root", slug="root", content_type=ContentType.objects.get_for_model(Page)
            )
        )
        landing = LandingPage(
            title="品牌会员俱乐部", slug="club", headline="高端会员专属社区", intro=LANDING_INTRO
        )
        root.add_child(instance=landing)
        landing.save_revision().publish()
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        Site.objects.create(
            hostname="localhost", port=80, root_page=landing, is_default_site=True,
            site_name="品牌会员俱乐部",
        )  # fmt: skip
    elif site.root_page_id != landing.pk:
        site.root_page = landing
        site.site_name = "品牌会员俱乐部"
        site.save(update_fields=["root_page", "site_name"])
    # Wagtail's initial "Welcome" page is replaced by the landing page.
    Page.objects.filter(depth=2, content_type__model="page").exclude(pk=landing.pk).delete()
    home = CommunityHome.objects.first()
    if home is None:
        home = CommunityHome(title="会员社区", slug="community", intro="会员专享文章、优惠与活动")
        landing.add_child(instance=home)
        home.save_revision().publish()
    return landing, home


def load_structure() -> None:
    _ensure_root_structure()


def load() -> list[str]:
    _landing, home = _ensure_root_structure()
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    if not tiers:
        return []
    now = timezone.now()
    for slug, model, title, summary, access, rule, extra in DEMO_ITEMS:
        kind = {OfferPage: "offer", ActivityPage: "activity"}.get(model, "post")
        if GatedPage.objects.filter(slug=slug).exists():
            _image(f"cover-{slug}", kind)  # redrawn if an earlier demo left it grey
            _image(f"secret-{slug}", "post")
            continue
        extra = dict(extra)
        cover = _image(f"cover-{slug}", kind)
        secret_image = _image(f"secret-{slug}", "post")
        early_tier = extra.pop("early_access_tier", None)
        early_hours = extra.pop("early_hours", None)
        is_public = access == "public"
        page = model(
            title=title, slug=slug, summary=summary, access=access, cover_image=cover,
            body=_body(slug, f"{summary}以下是给所有人的开场白。",
                       f"会员专享内容：{title}的完整细节", None if is_public else secret_image,
                       cut=not is_public),
            shareable=model is ActivityPage,
            **{k: v for k, v in extra.items() if k in {"hide_when_locked", "total_stock",
               "per_member_limit", "code_mode", "capacity", "place"}},
        )  # fmt: skip
        if access == "min_tier":
            page.min_tier = tiers[rule]
        if early_tier:
            page.early_access_tier = tiers[early_tier]
            page.early_access_until = now + timedelta(hours=early_hours)
        if model is OfferPage:
            page.valid_from = now - timedelta(days=1)
            page.valid_until = now + timedelta(days=30)
            if page.code_mode == "shared":
                page.shared_code = "PRESALE2026"
        if model is ActivityPage:
            page.starts_at = now + timedelta(days=20)
            page.ends_at = now + timedelta(days=27)
            page.registration_closes_at = now + timedelta(days=15)
            page.cancellation_deadline = now + timedelta(days=10)
        home.add_child(instance=page)
        if access == "tiers":
            page.tiers.set([tiers[code] for code in rule])
        page.save_revision().publish()
    from community.demo_interaction import load_interaction
    from community.demo_participation import load_participation

    load_participation()
    return load_interaction()
