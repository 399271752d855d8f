"""Shares to Weibo, their posting attempts, and the outsiders they bring.

A share exists only once its member confirmed the exact text and picture. Its state machine:

    queued ──► sending ──► sent
      ▲  │         │
      │  │         ├──► failed          (content refused, or retries exhausted)
      │  └─────────┴──► needs_reauth    (token refused; queued again after re-authorisation)
      └── retry (transient error, with backoff)

``sending`` carries a lease: a worker that dies mid-call leaves the share ``sending`` with an
expired lease, and the sweeper hands it to another worker, which treats it as "in doubt" (Weibo
may or may not have the post) — see ``share.services.share_post``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel
from wagtail.contrib.settings.models import BaseGenericSetting, register_setting


class Share(models.Model):
    class Kind(models.TextChoices):
        ITEM = "item", _("内容")
        REWARD = "reward", _("兑换的礼品")
        TIER = "tier", _("达到的等级")
        PHOTO = "photo", _("活动照片")

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        SENDING = "sending", _("发送中")
        SENT = "sent", _("已发布")
        FAILED = "failed", _("失败")
        NEEDS_REAUTH = "needs_reauth", _("需要重新授权")

    member = models.ForeignKey(
        "members.Member", verbose_name=_("会员"), on_delete=models.PROTECT, related_name="shares"
    )
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices)
    item = models.ForeignKey(
        "community.GatedPage", verbose_name=_("内容"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="shares",
    )  # fmt: skip
    redemption = models.ForeignKey(
        "loyalty.Redemption", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tier = models.ForeignKey(
        "members.Tier", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A member's own photo from an activity's wall (``item`` is then the activity).
    photo = models.ForeignKey(
        "community.ActivityPhoto", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="shares",
    )  # fmt: skip
    # What is shared, for "one reward per member per thing however often it is shared".
    subject_key = models.CharField(_("分享对象"), max_length=40, db_index=True)
    subject_title = models.CharField(_("标题"), max_length=255)
    text = models.TextField(_("微博正文"))
    # The same for every share of one subject by one member, so the card (which carries the
    # link as a QR code) is rendered once per member and subject; visits go to the latest share.
    token = models.CharField(_("链接标识"), max_length=32, db_index=True)
    link = models.URLField(_("追踪链接"), max_length=300)
    with_card = models.BooleanField(_("附带分享图"), default=True)
    card_name = models.CharField(_("分享图文件"), max_length=200, blank=True)
    show_name = models.BooleanField(_("公开显示昵称和头像"), default=True)
    rip = models.GenericIPAddressField(_("确认时的 IP"))
    confirmation_key = models.CharField(max_length=64, unique=True)
    followers_at_share = models.PositiveIntegerField(_("分享时粉丝数"), default=0)

    state = models.CharField(
        _("状态"), max_length=14, choices=State.choices, default=State.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"), null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    in_doubt = models.BooleanField(
        default=False, help_text="An earlier attempt may have reached Weibo without an answer."
    )
    last_error_code = models.IntegerField(_("错误码"), null=True, blank=True)
    last_error = models.CharField(_("错误信息"), max_length=300, blank=True)
    weibo_status_id = models.CharField(_("微博 ID"), max_length=32, blank=True)
    weibo_uid = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    # The post is read back from Weibo for a while after it went out (share/deleted_posts.py).
    post_checked_at = models.DateTimeField(null=True, blank=True)
    deleted_on_weibo_at = models.DateTimeField(_("微博上已删除"), null=True, blank=True)
    created_at = models.DateTimeField(_("确认时间"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("微博分享")
        verbose_name_plural = _("微博分享")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False), name="share_sent_has_time"
            ),
            models.UniqueConstraint(
                fields=["weibo_status_id"],
                condition=~Q(weibo_status_id=""),
                name="share_unique_weibo_status",
            ),  # fmt: skip
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.member} → {self.subject_title} ({self.get_state_display()})"

    @property
    def weibo_url(self) -> str:
        from django.conf import settings

        if not self.weibo_status_id:
            return ""
        return settings.WEIBO_STATUS_URL.format(uid=self.weibo_uid, id=self.weibo_status_id)

    @property
    def reward_key(self) -> str:
        return f"share:{self.member_id}:{self.subject_key}"

    @property
    def error_rule(self):
        """What Weibo's last answer means (``members.weibo.errors``); None without an error."""
        from members.weibo.errors import classify

        if self.state == self.State.SENT or (self.last_error_code is None and not self.last_error):
            return None
        return classify(self.last_error_code)

    @property
    def reason(self) -> str:
        """The member-facing reason of the last error, in the reader's language."""
        rule = self.error_rule
        return str(rule.reason) if rule else ""

    @property
    def permanent_failure(self) -> bool:
        """Failed on an answer that will not change: trying again is pointless, editing is not."""
        rule = self.error_rule
        return self.state == self.State.FAILED and rule is not None and not rule.transient

    @property
    def subject_ref(self) -> str:
        """The ``ref`` of the share page's query for this subject ("item:12" → "12")."""
        return self.subject_key.partition(":")[2]


class ShareAttempt(models.Model):
    """One call to Weibo for a share, kept for failure-by-reason statistics and support."""

    class Outcome(models.TextChoices):
        SENT = "sent", _("已发布")
        CONFIRMED_REPEAT = "repeat", _("微博已有此帖")
        RETRY = "retry", _("暂时错误，稍后重试")
        RATE_LIMITED = "limited", _("达到频率限制，整点后重试")
        FAILED = "failed", _("失败")
        REAUTH = "reauth", _("需要重新授权")

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error_code = models.IntegerField(null=True, blank=True)
    message = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["share", "number"]
        constraints = [
            models.UniqueConstraint(fields=["share", "number"], name="share_attempt_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.share_id}#{self.number} {self.outcome}"


class ShareVisit(models.Model):
    """A unique visitor of a share's landing page on one day (refreshes count once)."""

    share = models.ForeignKey(Share, on_delete=models.CASCADE, related_name="visits")
    visitor = models.CharField(max_length=64)
    day = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["share", "visitor", "day"], name="share_visit_unique_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.share_id} {self.day}"


class ShareReferral(models.Model):
    """An outsider who arrived through a share and went on to apply (and perhaps be admitted)."""

    share = models.ForeignKey(Share, on_delete=models.PROTECT, related_name="referrals")
    member = models.OneToOneField(
        "members.Member", on_delete=models.PROTECT, related_name="share_referral"
    )
    applied_at = models.DateTimeField(default=timezone.now)
    admitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("分享带来的申请")
        verbose_name_plural = _("分享带来的申请")

    def __str__(self) -> str:
        return f"{self.member_id} ← {self.share_id}"


@register_setting(icon="pick")
class ShareSettings(BaseGenericSetting):
    """Default share texts; an item's own template wins. Placeholders: {member} {title} {link}."""

    item_template = models.CharField(
        _("内容分享默认文案"), max_length=300,
        default="我在会员俱乐部发现了「{title}」，一起来看看 {link}",
    )  # fmt: skip
    reward_template = models.CharField(
        _("礼品兑换分享文案"), max_length=300,
        default="我用会员积分兑换了「{title}」！{link}",
    )  # fmt: skip
    tier_template = models.CharField(
        _("等级达成分享文案"), max_length=300,
        default="我成为了会员俱乐部的{title}会员！{link}",
    )  # fmt: skip
    referral_days = models.PositiveSmallIntegerField(
        _("推荐奖励统计天数"), default=30,
        help_text=_("访客通过分享链接进入后，这么多天内申请入会仍记在分享者名下。"),
    )  # fmt: skip

    panels = [
        FieldPanel("item_template"),
        FieldPanel("reward_template"),
        FieldPanel("tier_template"),
        FieldPanel("referral_days"),
    ]

    class Meta:
        verbose_name = _("微博分享设置")
