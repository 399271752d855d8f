"""Wagtail page types of the community, and the data the access gate reads.

Every member-facing item (post, offer, activity) is a ``GatedPage``: besides Wagtail's own
go-live/expiry it carries an access rule (public, any member, tier ≥ X, or a set of tiers), an
optional early-access window, a public teaser (title, summary, cover image) and a body that may
contain a paywall cut. Whether a viewer sees the full item, the teaser or nothing is decided by
``community.gate`` alone; models only hold the data.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import strip_tags
from django.utils.translation import gettext_lazy as _
from modelcluster.fields import ParentalManyToManyField
from wagtail import blocks
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.fields import RichTextField, StreamField
from wagtail.images.blocks import ImageChooserBlock
from wagtail.models import Page
from wagtail.search import index

from core.text import normalise_search_text
from share.widgets import WeiboTextarea


class KeptViewRestrictionsMixin:
    """Whether Wagtail view restrictions apply, asked once per cache generation.

    Wagtail checks on every request, with two queries, whether the page or an ancestor has a
    view restriction (Settings → Privacy). A club almost never sets one, and a restriction
    added, changed or removed bumps the cache generation, so the answer is kept.
    """

    def get_view_restrictions(self):
        from wagtail.models import PageViewRestriction

        # Wagtail's answer walks the ancestors in a query: ask it only when the kept answer
        # says a restriction applies (or nothing is kept yet). A page routed from the cache
        # carries the answer already (``community.serving``).
        restricted = getattr(self, "_kept_view_restricted", None)
        if restricted is None:
            restricted = self.has_view_restrictions_kept()
        if restricted:
            return super().get_view_restrictions()
        # Empty and already evaluated: iterating it builds no SQL (a plain ``none()`` is
        # compiled before it finds nothing); ordering or filtering it still works.
        nothing = PageViewRestriction.objects.none()
        nothing._result_cache, nothing._prefetch_done = [], True
        return nothing

    def has_view_restrictions_kept(self) -> bool:
        from core import pagecache

        return pagecache.fragment(
            ("view-restrictions", self.pk), lambda: super(KeptViewRestrictionsMixin, self)
            .get_view_restrictions()
            .exists(),
        )  # fmt: skip


def _mark_if_outsider(request) -> None:
    """The public pages are the same for every outsider: let the page cache keep them."""
    from core import pagecache
    from members.selectors import viewer_for_request

    if not getattr(request, "is_preview", False) and viewer_for_request(request).kind == "outsider":
        pagecache.mark_outsider_cacheable(request)


class LandingPage(KeptViewRestrictionsMixin, Page):
    """The public front door: what the club is and how to get in. Never member-only content."""

    headline = models.CharField(_("标题语"), max_length=120, blank=True)
    intro = RichTextField(_("介绍"), blank=True, features=["bold", "italic", "link", "ol", "ul"])
    join_text = models.CharField(_("加入按钮文字"), max_length=40, default="用微博登录加入")

    content_panels = Page.content_panels + [
        FieldPanel("headline"),
        FieldPanel("intro"),
        FieldPanel("join_text"),
    ]
    parent_page_types = ["wagtailcore.Page"]
    subpage_types = ["community.CommunityHome"]
    max_count = 1

    class Meta:
        verbose_name = _("公开首页")
        verbose_name_plural = _("公开首页")

    def serve(self, request, *args, **kwargs):
        _mark_if_outsider(request)
        return super().serve(request, *args, **kwargs)


class CommunityHome(KeptViewRestrictionsMixin, Page):
    """The members' feed: every post, offer and activity the viewer may see, newest first."""

    intro = models.CharField(_("简介"), max_length=200, blank=True)

    content_panels = Page.content_panels + [FieldPanel("intro")]
    parent_page_types = ["community.LandingPage"]
    subpage_types = ["community.PostPage", "community.OfferPage", "community.ActivityPage"]
    max_count = 1

    class Meta:
        verbose_name = _("社区首页")
        verbose_name_plural = _("社区首页")

    def serve(self, request, *args, **kwargs):
        from core import pagecache

        _mark_if_outsider(request)
        if not getattr(request, "is_preview", False):
            # Nothing personal here beyond the header: the cards are kept per access class.
            pagecache.mark_personal_cacheable(request)
        return super().serve(request, *args, **kwargs)

    def get_context(self, request, *args, **kwargs):
        from community.serving import feed_html

        context = super().get_context(request, *args, **kwargs)
        context["feed_html"] = feed_html(
            request, home=self, preview=getattr(request, "is_preview", False)
        )
        return context


class PaywallBlock(blocks.StaticBlock):
    """Everything after this block is for viewers with full access only."""

    class Meta:
        icon = "lock"
        label = _("付费墙（以下仅限有权限的会员）")
        admin_text = _("此处以下的内容只有有权限的会员可以看到；其他人只看到上面的部分和升级提示。")


class QuoteBlock(blocks.StructBlock):
    text = blocks.TextBlock(label=_("引文"))
    source = blocks.CharBlock(label=_("出处"), required=False)

    class Meta:
        template = "community/blocks/quote.html"
        icon = "openquote"
        label = _("引用")


class ImageWithCaptionBlock(blocks.StructBlock):
    image = ImageChooserBlock(label=_("图片"))
    caption = blocks.CharBlock(label=_("说明"), required=False)

    class Meta:
        template = "community/blocks/image.html"
        icon = "image"
        label = _("图片")


class ItemEmbedBlock(blocks.StructBlock):
    """A card for another of our items, rendered through the gate for each viewer."""

    page = blocks.PageChooserBlock(
        label=_("社区内容"),
        page_type=["community.PostPage", "community.OfferPage", "community.ActivityPage"],
    )

    class Meta:
        template = "community/blocks/item.html"
        icon = "link"
        label = _("嵌入社区内容")


PARAGRAPH_FEATURES = ["bold", "italic", "h2", "h3", "ol", "ul", "link"]
BODY_BLOCKS = [
    ("paragraph", blocks.RichTextBlock(label=_("段落"), features=PARAGRAPH_FEATURES)),
    ("image", ImageWithCaptionBlock()),
    ("quote", QuoteBlock()),
    ("item", ItemEmbedBlock()),
    ("paywall", PaywallBlock()),
]  # fmt: skip


class GatedPage(KeptViewRestrictionsMixin, Page):
    """Fields every member-facing item shares: access rule, early access, teaser, body."""

    class Access(models.TextChoices):
        PUBLIC = "public", _("公开")
        MEMBERS = "members", _("所有会员")
        MIN_TIER = "min_tier", _("指定等级及以上")
        TIERS = "tiers", _("仅限指定等级")

    access = models.CharField(
        _("谁可以看"), max_length=10, choices=Access.choices, default=Access.MEMBERS
    )
    min_tier = models.ForeignKey(
        "members.Tier", verbose_name=_("最低等级"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    tiers = ParentalManyToManyField(
        "members.Tier", verbose_name=_("指定等级"), blank=True, related_name="+"
    )
    early_access_tier = models.ForeignKey(
        "members.Tier", verbose_name=_("抢先看最低等级"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
        help_text=_("在抢先期结束前，只有这个等级及以上的会员可以看到完整内容。"),
    )  # fmt: skip
    early_access_until = models.DateTimeField(_("抢先期结束"), null=True, blank=True)
    hide_when_locked = models.BooleanField(
        _("对无权限者完全隐藏"), default=False,
        help_text=_("不勾选时，无权限的人会看到预告（标题、摘要、封面）和升级提示。"),
    )  # fmt: skip
    summary = models.TextField(_("公开摘要"), max_length=300, blank=True,
                               help_text=_("预告的一部分，所有人都能看到。"))  # fmt: skip
    cover_image = models.ForeignKey(
        "wagtailimages.Image", verbose_name=_("封面图"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
        help_text=_("预告的一部分，所有人都能看到；不要放会员专属信息。"),
    )  # fmt: skip
    body = StreamField(BODY_BLOCKS, verbose_name=_("正文"), blank=True)
    shareable = models.BooleanField(_("允许会员分享到微博"), default=False)
    share_text_template = models.CharField(
        _("分享文案"), max_length=300, blank=True,
        help_text=_(
            "会员分享到微博时的默认文案，可用 {member}（昵称）、{title}（标题）、{link}（链接）；"
            "留空使用默认文案。微博限 140 字，链接按 10 字计。"
        ),
    )  # fmt: skip
    # Plain text of title, summary and body for substring search: PostgreSQL's full-text search
    # does not split Chinese into words (a sequential scan is fine at a club's item count).
    # Never rendered; results still pass the gate.
    search_text = models.TextField(editable=False, blank=True, default="")

    access_panels = [
        MultiFieldPanel(
            [
                FieldPanel("access"),
                FieldPanel("min_tier"),
                FieldPanel("tiers", widget=forms.CheckboxSelectMultiple),
                FieldRowPanel([FieldPanel("early_access_tier"), FieldPanel("early_access_until")]),
                FieldPanel("hide_when_locked"),
            ],
            heading=_("访问权限"),
        ),
        MultiFieldPanel(
            [
                FieldPanel("summary"),
                FieldPanel("cover_image"),
                FieldPanel("shareable"),
                FieldPanel("share_text_template", widget=WeiboTextarea()),
            ],
            heading=_("公开预告"),
        ),
    ]
    search_fields = Page.search_fields + [
        index.SearchField("summary"),
        index.SearchField("body"),
        index.FilterField("access"),
    ]
    parent_page_types = ["community.CommunityHome"]
    subpage_types: list[str] = []
    template = "community/item.html"
    is_creatable = False  # a base table so the feed can filter and paginate in one query

    class Meta:
        verbose_name = _("社区内容")
        verbose_name_plural = _("社区内容")

    def plain_text(self) -> str:
        parts = [self.title, self.summary]
        for block in self.body:
            value = block.value
            if block.block_type == "paragraph":
                parts.append(strip_tags(value.source))
            elif block.block_type == "quote":
                parts += [value["text"], value["source"]]
            elif block.block_type == "image":
                parts.append(value["caption"])
        return normalise_search_text(" ".join(part for part in parts if part))

    def clean(self) -> None:
        super().clean()
        if self.share_text_template:
            from share.text import template_problems

            problems = template_problems(self.share_text_template)
            if problems:
                raise ValidationError({"share_text_template": problems})

    def save(self, *args, **kwargs):
        self.search_text = self.plain_text()
        # An alias of a gated page would be served, listed and indexed as public by Wagtail.
        if self.alias_of_id:
            raise ValidationError(_("会员内容不能创建别名页面。"))
        return super().save(*args, **kwargs)

    # --- serving: the gate decides; templates only present -----------------------------------

    def serve(self, request, *args, **kwargs):
        from community.serving import serve_gated

        return serve_gated(self, request, *args, **kwargs)

    @property
    def preview_modes(self):
        from community.serving import preview_modes

        return preview_modes()

    def serve_preview(self, request, mode_name):
        from community.serving import serve_preview_as

        return serve_preview_as(self, request, mode_name)


class PostPage(GatedPage):
    template = "community/item.html"
    content_panels = Page.content_panels + GatedPage.access_panels + [FieldPanel("body")]

    class Meta:
        verbose_name = _("文章")
        verbose_name_plural = _("文章")


class OfferPage(GatedPage):
    """An exclusive deal: a pool of unique codes or one shared code, limited stock."""

    template = "community/item.html"

    class CodeMode(models.TextChoices):
        POOL = "pool", _("唯一券码（从券码池发放）")
        SHARED = "shared", _("统一券码")

    valid_from = models.DateTimeField(_("开始领取"), null=True, blank=True)
    valid_until = models.DateTimeField(_("领取截止"), null=True, blank=True)
    code_mode = models.CharField(
        _("券码方式"), max_length=10, choices=CodeMode.choices, default=CodeMode.POOL
    )
    shared_code = models.CharField(_("统一券码"), max_length=64, blank=True)
    total_stock = models.PositiveIntegerField(_("总数量"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("每人限领"), default=1)
    points_price = models.PositiveIntegerField(_("所需积分"), default=0)
    terms = models.TextField(_("使用条款"), blank=True)

    content_panels = (
        Page.content_panels
        + GatedPage.access_panels
        + [
            MultiFieldPanel(
                [
                    FieldRowPanel([FieldPanel("valid_from"), FieldPanel("valid_until")]),
                    FieldPanel("code_mode"),
                    FieldPanel("shared_code"),
                    FieldRowPanel([FieldPanel("total_stock"), FieldPanel("per_member_limit"),
                                   FieldPanel("points_price")]),
                    FieldPanel("terms"),
                ],
                heading=_("优惠设置"),
            ),
            FieldPanel("body"),
        ]
    )  # fmt: skip

    class Meta:
        verbose_name = _("专属优惠")
        verbose_name_plural = _("专属优惠")


class ActivityPage(GatedPage):
    """An event or trip: seats, a waiting list, cancellation deadline and check-in."""

    template = "community/item.html"

    starts_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    ends_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    place = models.CharField(_("地点"), max_length=200, blank=True)
    capacity = models.PositiveIntegerField(_("名额"), default=0)
    registration_opens_at = models.DateTimeField(_("报名开始"), null=True, blank=True)
    registration_closes_at = models.DateTimeField(_("报名截止"), null=True, blank=True)
    cancellation_deadline = models.DateTimeField(_("取消截止"), null=True, blank=True)

    class PhotoModeration(models.TextChoices):
        PRE = "pre", _("先审后发（审核通过后才显示）")
        POST = "post", _("先发后审（立即显示，被举报或命中敏感词时审核）")

    photo_limit = models.PositiveSmallIntegerField(
        _("每人可发照片数"), default=0,
        help_text=_("签到过的会员可以在照片墙上发布的照片数；0 表示不开放照片墙。"),
    )  # fmt: skip
    photo_window_days = models.PositiveSmallIntegerField(
        _("活动结束后可发照片天数"), default=7,
        help_text=_("从签到起，到活动结束后这么多天为止，签到过的会员可以发照片。"),
    )  # fmt: skip
    photo_moderation = models.CharField(
        _("照片审核方式"), max_length=4, choices=PhotoModeration.choices,
        default=PhotoModeration.PRE,
    )  # fmt: skip

    content_panels = (
        Page.content_panels
        + GatedPage.access_panels
        + [
            MultiFieldPanel(
                [
                    FieldRowPanel([FieldPanel("starts_at"), FieldPanel("ends_at")]),
                    FieldPanel("place"),
                    FieldPanel("capacity"),
                    FieldRowPanel([FieldPanel("registration_opens_at"),
                                   FieldPanel("registration_closes_at")]),
                    FieldPanel("cancellation_deadline"),
                ],
                heading=_("活动设置"),
            ),
            MultiFieldPanel(
                [FieldRowPanel([FieldPanel("photo_limit"), FieldPanel("photo_window_days")]),
                 FieldPanel("photo_moderation")],
                heading=_("照片墙"),
            ),
            FieldPanel("body"),
        ]
    )  # fmt: skip

    class Meta:
        verbose_name = _("活动")
        verbose_name_plural = _("活动")


GATED_PAGE_MODELS = (PostPage, OfferPage, ActivityPage)


class ItemAnnouncement(models.Model):
    """That an item was announced to a tier: each member hears of an item once."""

    page = models.ForeignKey(GatedPage, on_delete=models.CASCADE, related_name="+")
    tier = models.ForeignKey("members.Tier", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["page", "tier"], name="announce_item_once_per_tier")
        ]

    def __str__(self) -> str:
        return f"{self.page_id} → {self.tier_id}"


class AnnouncementCursor(models.Model):
    """How far the minute job has gone through ended early-access windows.

    Items are taken in ``(early_access_until, id)`` order after the last one finished, so every
    run moves on from where the last committed one stopped, however many items lie behind it.
    The cursor moves in the same transaction as the item's announcements: a run that dies
    mid-way leaves the item to the next run, which the once-per-tier constraint keeps from
    telling anyone twice. An item whose window is moved behind the cursor is re-published, and
    publishing announces it.
    """

    name = models.CharField(max_length=50, unique=True)
    last_until = models.DateTimeField(null=True)
    last_page_id = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last_until} #{self.last_page_id}"


from community.models_allocation import *  # noqa: E402,F401,F403
from community.models_interaction import *  # noqa: E402,F401,F403
from community.models_participation import *  # noqa: E402,F401,F403
from community.models_photos import *  # noqa: E402,F401,F403
