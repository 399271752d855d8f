"""Demo pages: the public landing page as the site root."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from wagtail.coreutils import get_supported_content_language_variant
from wagtail.models import Locale, Page, Site

from community.models import LandingPage

LANDING_INTRO = (
    "<p>这里是品牌高端会员的专属社区：会员专享文章、优惠与活动，按会员等级开放。"
    "参与活动赚取积分，兑换礼遇；一键分享到微博，邀请好友加入。</p>"
)


def load() -> list[str]:
    # A flushed database (transactional tests) lacks what Wagtail's migrations create.
    Locale.objects.get_or_create(
        language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE)
    )
    landing = LandingPage.objects.first()
    if landing is None:
        root = Page.get_first_root_node() or Page.add_root(
            instance=Page(
                title="Root", slug="root", content_type=ContentType.objects.get_for_model(Page)
            )
        )
        landing = LandingPage(
            title="品牌会员俱乐部",
            slug="club",
            headline="高端会员专属社区",
            intro=LANDING_INTRO,
        )
        root.add_child(instance=landing)
        landing.save_revision().publish()
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        Site.objects.create(
            hostname="localhost",
            port=80,
            root_page=landing,
            is_default_site=True,
            site_name="品牌会员俱乐部",
        )
    elif site.root_page_id != landing.pk:
        site.root_page = landing
        site.site_name = "品牌会员俱乐部"
        site.save(update_fields=["root_page", "site_name"])
    # Wagtail's initial "Welcome" page is replaced by the landing page.
    Page.objects.filter(depth=2).exclude(pk=landing.pk).filter(content_type__model="page").delete()
    return []
