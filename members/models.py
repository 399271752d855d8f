"""The member record, tiers, consent and admission to the club.

A ``Member`` exists for everyone who signed in with Weibo *and* accepted the consent text; the
``state`` says whether they are inside the club. Tiers are ordered by ``rank``: access rules
compare ranks, never names, so staff can rename tiers freely.

Records that prove what happened (consents, admission decisions, invitation uses) are
append-only. The Weibo access token is kept encrypted (``core.crypto``), never in clear.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from wagtail.contrib.settings.models import BaseGenericSetting, register_setting


class Tier(models.Model):
    code = models.SlugField(_("代码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=40)
    rank = models.PositiveSmallIntegerField(
        _("等级"), unique=True, help_text=_("数字越大等级越高。")
    )
    badge_colour = models.CharField(_("徽章颜色"), max_length=7, default="#8a8a8a")
    benefits = models.TextField(_("会员权益"), blank=True)

    class Meta:
        verbose_name = _("会员等级")
        verbose_name_plural = _("会员等级")
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class Segment(models.TextChoices):
    """The social technographics ladder, highest rung first (see ``members.segments``)."""

    CREATOR = "creator", _("创作者")
    CRITIC = "critic", _("评论者")
    COLLECTOR = "collector", _("收集者")
    JOINER = "joiner", _("参与者")
    SPECTATOR = "spectator", _("旁观者")
    INACTIVE = "inactive", _("不活跃者")


class ZombieAudience(models.TextChoices):
    """Whether an audience (an earning rule's, a staff message's) includes suspected zombie
    accounts (``Member.zombie_suspected``, see ``members.services.zombie_reasons``)."""

    ALL = "all", _("不限")
    EXCLUDE = "exclude", _("不含疑似僵尸号")
    ONLY = "only", _("仅疑似僵尸号")


def zombie_audience_admits(audience: str, zombie_suspected: bool) -> bool:
    """Whether a member with this flag belongs to the audience."""
    if audience == ZombieAudience.EXCLUDE:
        return not zombie_suspected
    if audience == ZombieAudience.ONLY:
        return zombie_suspected
    return True


class Member(models.Model):
    class State(models.TextChoices):
        APPLICANT = "applicant", _("申请中")
        MEMBER = "member", _("会员")
        SUSPENDED = "suspended", _("已暂停")
        LEFT = "left", _("已退出")

    class TokenState(models.TextChoices):
        NONE = "none", _("无")
        VALID = "valid", _("有效")
        NEEDS_REAUTH = "needs_reauth", _("需要重新授权")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member"
    )
    state = models.CharField(
        _("状态"), max_length=16, choices=State.choices, default=State.APPLICANT, db_index=True
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("等级"), on_delete=models.PROTECT, null=True, blank=True
    )
    display_name = models.CharField(_("昵称"), max_length=100, blank=True)
    # The language the member last chose on the site: what is written to them when no page is
    # open (notifications composed by workers). Empty until they choose: the site's default.
    language = models.CharField(_("语言"), max_length=10, blank=True, default="")
    membership_number = models.CharField(
        _("会员卡号"), max_length=40, null=True, blank=True, unique=True
    )
    invited_by = models.ForeignKey(
        "self", verbose_name=_("邀请人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="invitees",
    )  # fmt: skip
    joined_at = models.DateTimeField(_("入会时间"), null=True, blank=True)
    state_reason = models.TextField(_("状态原因"), blank=True)
    left_at = models.DateTimeField(_("退出时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("最近访问"), null=True, blank=True)
    show_name_on_shares = models.BooleanField(_("分享时显示昵称和头像"), default=True)

    # The member's own profile (我的 → 个人资料; ``services.member_profile_update``). The birthday
    # is a month and day, the year optional; the member sets it once (``birthday_set_at``).
    birthday_month = models.PositiveSmallIntegerField(_("生日（月）"), null=True, blank=True)
    birthday_day = models.PositiveSmallIntegerField(_("生日（日）"), null=True, blank=True)
    birthday_year = models.PositiveSmallIntegerField(_("出生年份"), null=True, blank=True)
    birthday_set_at = models.DateTimeField(_("生日填写时间"), null=True, blank=True)
    # When every field of ``selectors.PROFILE_FIELDS`` was first filled; never cleared.
    profile_completed_at = models.DateTimeField(_("资料完善时间"), null=True, blank=True)

    # Weibo profile, refreshed at every login.
    weibo_uid = models.CharField(_("微博 UID"), max_length=32, null=True, blank=True, unique=True)
    weibo_screen_name = models.CharField(_("微博昵称"), max_length=100, blank=True)
    # The screen name normalised (``members.handles``): what @mentions match. Unique, and kept
    # with the screen name at every login; None for a member whose name another took since.
    mention_handle = models.CharField(
        _("@用户名"), max_length=100, null=True, blank=True, unique=True, editable=False
    )
    weibo_avatar_url = models.URLField(_("微博头像"), max_length=500, blank=True)
    weibo_location = models.CharField(_("所在地"), max_length=100, blank=True)
    weibo_gender = models.CharField(_("性别"), max_length=1, blank=True)
    weibo_followers = models.PositiveIntegerField(_("粉丝数"), default=0)
    weibo_friends = models.PositiveIntegerField(_("关注数"), default=0)
    weibo_statuses = models.PositiveIntegerField(_("微博数"), default=0)
    weibo_verified = models.BooleanField(_("微博认证"), default=False)
    weibo_verified_type = models.SmallIntegerField(_("认证类型"), default=-1)
    weibo_verified_reason = models.CharField(_("认证说明"), max_length=200, blank=True)
    weibo_default_avatar = models.BooleanField(_("默认头像"), default=False)
    weibo_created_at = models.DateTimeField(_("微博注册时间"), null=True, blank=True)
    weibo_refreshed_at = models.DateTimeField(_("资料更新时间"), null=True, blank=True)
    zombie_suspected = models.BooleanField(_("疑似僵尸号"), default=False)
    zombie_reasons = models.JSONField(_("僵尸号判断依据"), default=list, blank=True)

    # Written by the nightly classification (members.segments); empty until its first run and
    # for members who are not admitted. ``segment_since``: when the member entered the segment.
    segment = models.CharField(
        _("用户分层"), max_length=12, choices=Segment.choices, blank=True, db_index=True
    )
    segment_reasons = models.JSONField(_("分层依据"), default=dict, blank=True)
    segment_since = models.DateTimeField(_("进入该分层的时间"), null=True, blank=True)

    # The token is encrypted at rest; see core.crypto.
    weibo_token_encrypted = models.TextField(_("微博令牌（加密）"), blank=True)
    weibo_token_expires_at = models.DateTimeField(_("令牌到期"), null=True, blank=True)
    weibo_token_state = models.CharField(
        _("令牌状态"), max_length=16, choices=TokenState.choices, default=TokenState.NONE
    )

    class Meta:
        verbose_name = _("会员")
        verbose_name_plural = _("会员")
        indexes = [
            models.Index(fields=["state", "tier"]),
            models.Index(
                fields=["birthday_month", "birthday_day"],
                condition=models.Q(birthday_month__isnull=False),
                name="member_birthday",
            ),
            # Prefix search for @suggestions (LIKE 'abc%' under any collation).
            models.Index(
                fields=["mention_handle"],
                name="member_handle_prefix",
                opclasses=["varchar_pattern_ops"],
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(birthday_month__isnull=True, birthday_day__isnull=True,
                                   birthday_year__isnull=True)
                | models.Q(birthday_month__gte=1, birthday_month__lte=12,
                           birthday_day__gte=1, birthday_day__lte=31),
                name="member_birthday_month_and_day",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.display_name or self.weibo_screen_name or self.user.get_username()

    @property
    def is_admitted(self) -> bool:
        return self.state == self.State.MEMBER


class ConsentText(models.Model):
    """A version of the consent (授权) text, drafted, reviewed and published by staff.

    Its state follows from its timestamps: a draft until submitted (``submitted_at``), in
    review until a reviewer publishes it (``published_at``) or sends it back (``submitted_at``
    cleared, ``review_comment`` set). A published version is immutable; a change is a new draft.
    ``version`` is given at publication (1, 2, 3…), so members only ever see consecutive numbers.

    ``material``: a material change asks every member to accept again; a non-material one (a
    typo fix) becomes the current text without asking. A member's consent holds while they have
    accepted the latest material version or any later one (``selectors.consent_baseline``).
    """

    class State(models.TextChoices):
        DRAFT = "draft", _("草稿")
        IN_REVIEW = "in_review", _("待审核")
        PUBLISHED = "published", _("已发布")

    version = models.PositiveIntegerField(_("版本"), unique=True, null=True, blank=True)
    title = models.CharField(_("标题"), max_length=100)
    body = models.TextField(_("正文"))
    title_en = models.CharField(_("英文标题"), max_length=100, blank=True)
    body_en = models.TextField(_("英文正文"), blank=True)
    material = models.BooleanField(
        _("重大变更"),
        default=True,
        help_text=_("重大变更会请所有会员在下次访问时重新同意；错别字等非重大修改不会。"),
    )
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("修改时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("起草人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    # Everyone who wrote into this draft: none of them may approve it (four eyes).
    editors = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("编辑人"), blank=True, related_name="+"
    )
    based_on = models.ForeignKey(
        "self", verbose_name=_("基于版本"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    submitted_at = models.DateTimeField(_("提交审核时间"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("提交人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("审核人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    review_comment = models.TextField(_("审核意见"), blank=True)

    class Meta:
        verbose_name = _("授权说明")
        verbose_name_plural = _("授权说明")
        ordering = [models.F("version").desc(nulls_first=True), "-pk"]
        permissions = [("publish_consenttext", _("可以审核并发布授权说明"))]

    def __str__(self) -> str:
        if self.version is None:
            return f"#{self.pk} {self.title}"
        return f"v{self.version} {self.title}"

    @property
    def state(self) -> str:
        if self.published_at is not None:
            return self.State.PUBLISHED
        if self.submitted_at is not None:
            return self.State.IN_REVIEW
        return self.State.DRAFT

    def get_state_display(self) -> str:
        return str(self.State(self.state).label)

    def in_language(self, language: str | None) -> tuple[str, str]:
        """Title and body in ``language``; Simplified Chinese when no English text was written."""
        if (language or "").lower().startswith("en") and self.title_en and self.body_en:
            return self.title_en, self.body_en
        return self.title, self.body


class Consent(models.Model):
    """One acceptance of one consent version (append-only)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="consents")
    text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(_("同意时间"), auto_now_add=True)
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)

    class Meta:
        verbose_name = _("授权记录")
        verbose_name_plural = _("授权记录")
        constraints = [
            models.UniqueConstraint(fields=["member", "text"], name="consent_once_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.member} v{self.text.version}"


@register_setting(icon="key")
class AdmissionSettings(BaseGenericSetting):
    """The club's admission rule, as staff configure it. Any enabled route admits."""

    invitations_enabled = models.BooleanField(_("邀请码入会"), default=True)
    approval_enabled = models.BooleanField(_("提交申请，由工作人员审核"), default=True)
    membership_number_enabled = models.BooleanField(_("会员卡号验证入会"), default=True)
    criteria_enabled = models.BooleanField(_("满足微博条件自动入会"), default=False)
    min_followers = models.PositiveIntegerField(_("最少粉丝数"), default=10000)
    require_verified = models.BooleanField(_("须为微博认证用户"), default=False)
    min_account_age_days = models.PositiveIntegerField(_("微博注册至少天数"), default=365)
    default_tier = models.ForeignKey(
        Tier, verbose_name=_("新会员默认等级"), null=True, blank=True, on_delete=models.SET_NULL
    )
    invites_per_member_per_month = models.PositiveSmallIntegerField(
        _("每位会员每月可邀请人数"), default=3
    )

    class Meta:
        verbose_name = _("入会规则")

    def __str__(self) -> str:
        return f"{self.member} v{self.text.version}"


class InvitationCode(models.Model):
    """A code that admits whoever redeems it, until used up, expired or revoked."""

    code = models.CharField(_("邀请码"), max_length=32, unique=True)
    batch = models.CharField(_("批次"), max_length=100, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    inviter = models.ForeignKey(
        Member, verbose_name=_("邀请人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="invitation_codes",
    )  # fmt: skip
    max_uses = models.PositiveIntegerField(_("可用次数"), default=1)
    uses = models.PositiveIntegerField(_("已用次数"), default=0)
    expires_at = models.DateTimeField(_("有效期至"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("作废时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("邀请码")
        verbose_name_plural = _("邀请码")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(uses__lte=models.F("max_uses")), name="invitation_uses_le_max"
            )
        ]

    def __str__(self) -> str:
        return self.code


class InvitationUse(models.Model):
    code = models.ForeignKey(InvitationCode, on_delete=models.PROTECT, related_name="redemptions")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "member"], name="invitation_used_once")
        ]

    def __str__(self) -> str:
        return f"{self.code} → {self.member}"


class Application(models.Model):
    """An applicant's request to be admitted by staff; pending ones form the waitlist."""

    class State(models.TextChoices):
        PENDING = "pending", _("等待审核")
        APPROVED = "approved", _("已通过")
        REJECTED = "rejected", _("未通过")
        WITHDRAWN = "withdrawn", _("已撤回")

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="application")
    message = models.TextField(_("申请说明"), max_length=500)
    state = models.CharField(
        _("状态"), max_length=12, choices=State.choices, default=State.PENDING, db_index=True
    )
    submitted_at = models.DateTimeField(_("提交时间"), auto_now_add=True, db_index=True)
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("入会申请")
        verbose_name_plural = _("入会申请")
        ordering = ["submitted_at"]

    def __str__(self) -> str:
        return f"{self.member} ({self.get_state_display()})"


class AdmissionDecision(models.Model):
    """Why someone was admitted or turned away, and who or which rule decided (append-only)."""

    class Outcome(models.TextChoices):
        ADMITTED = "admitted", _("准入")
        REJECTED = "rejected", _("拒绝")

    class Route(models.TextChoices):
        INVITATION = "invitation", _("邀请码")
        APPROVAL = "approval", _("人工审核")
        CRITERIA = "criteria", _("微博条件")
        MEMBERSHIP_NUMBER = "membership_number", _("会员卡号")
        STAFF = "staff", _("工作人员")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(_("结果"), max_length=10, choices=Outcome.choices)
    route = models.CharField(_("途径"), max_length=20, choices=Route.choices)
    reason = models.TextField(_("原因"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("决定人"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("入会决定")
        verbose_name_plural = _("入会决定")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.member}: {self.get_outcome_display()} ({self.get_route_display()})"


class CustomerRecord(models.Model):
    """A customer of the brand, imported by staff, whose membership number admits them."""

    membership_number = models.CharField(_("会员卡号"), max_length=40, unique=True)
    name = models.CharField(_("姓名"), max_length=100, blank=True)
    tier = models.ForeignKey(
        Tier, verbose_name=_("等级"), null=True, blank=True, on_delete=models.PROTECT
    )
    claimed_by = models.OneToOneField(
        Member, verbose_name=_("已绑定会员"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="customer_record",
    )  # fmt: skip
    imported_at = models.DateTimeField(_("导入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("客户名单")
        verbose_name_plural = _("客户名单")

    def __str__(self) -> str:
        return self.membership_number


class CustomerImport(models.Model):
    """A CSV upload of the customer list, processed in the background with a per-row report."""

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("导入中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    file_name = models.CharField(_("文件名"), max_length=200)
    content = models.TextField(_("内容"))
    state = models.CharField(_("状态"), max_length=10, choices=State.choices, default=State.QUEUED)
    total_rows = models.PositiveIntegerField(_("总行数"), default=0)
    processed_rows = models.PositiveIntegerField(_("已处理"), default=0)
    created_rows = models.PositiveIntegerField(_("新增"), default=0)
    updated_rows = models.PositiveIntegerField(_("更新"), default=0)
    errors = models.JSONField(_("错误"), default=list, blank=True)
    created_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("客户名单导入")
        verbose_name_plural = _("客户名单导入")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file_name


from members.models_privacy import DataExport, SealedCopy  # noqa: E402, F401 (PIPL records)
from members.models_sessions import MemberSession  # noqa: E402, F401 (sign-in sessions)
