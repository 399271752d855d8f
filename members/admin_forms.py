"""Forms of the staff screens in the Wagtail admin (see ``members.admin_views``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import InvitationCode, Member, Segment, Tier, ZombieAudience

MAX_IMPORT_BYTES = 5 * 1024 * 1024


YES_NO = [("", _("不限")), ("yes", _("是")), ("no", _("否"))]


def _date_input():
    return forms.DateInput(attrs={"type": "date"})


class MemberFilterForm(forms.Form):
    """The member list's filters; invalid fields are ignored (and shown with their error)."""

    q = forms.CharField(
        label=_("搜索"), required=False, max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("昵称、微博昵称或会员卡号")}),
    )  # fmt: skip
    state = forms.ChoiceField(
        label=_("状态"), required=False, choices=[("", _("全部状态")), *Member.State.choices]
    )
    tier = forms.ModelChoiceField(
        label=_("等级"), required=False, queryset=Tier.objects.all(), empty_label=_("全部等级")
    )
    segment = forms.ChoiceField(
        label=_("用户分层"), required=False, choices=[("", _("全部分层")), *Segment.choices]
    )
    joined_from = forms.DateField(label=_("入会时间从"), required=False, widget=_date_input())
    joined_to = forms.DateField(label=_("入会时间至"), required=False, widget=_date_input())
    active_from = forms.DateField(label=_("最近访问从"), required=False, widget=_date_input())
    active_to = forms.DateField(label=_("最近访问至"), required=False, widget=_date_input())
    verified = forms.ChoiceField(label=_("微博认证"), required=False, choices=YES_NO)
    zombie = forms.ChoiceField(label=_("疑似僵尸号"), required=False, choices=YES_NO)
    followers_min = forms.IntegerField(label=_("粉丝数最少"), required=False, min_value=0)
    followers_max = forms.IntegerField(label=_("粉丝数最多"), required=False, min_value=0)
    points_min = forms.IntegerField(label=_("积分最少"), required=False, min_value=0)
    points_max = forms.IntegerField(label=_("积分最多"), required=False, min_value=0)

    RANGES = (
        ("joined_from", "joined_to"),
        ("active_from", "active_to"),
        ("followers_min", "followers_max"),
        ("points_min", "points_max"),
    )

    def clean(self):
        data = super().clean()
        for low, high in self.RANGES:
            if data.get(low) is not None and data.get(high) is not None:
                if data[low] > data[high]:
                    self.add_error(high, _("不能小于前一个值。"))
        return data

    def filters(self) -> dict:
        """The valid, non-empty filters (an unbound form filters nothing)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {
            name: value
            for name, value in getattr(self, "cleaned_data", {}).items()
            if value not in (None, "")
        }

    def describe(self) -> dict[str, str]:
        """The filters as plain text, for the audit trail."""
        described = {}
        for name, value in self.filters().items():
            if isinstance(value, Tier):
                value = value.code
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            described[name] = str(value)
        return described


class TierSetForm(forms.Form):
    tier = forms.ModelChoiceField(label=_("等级"), queryset=Tier.objects.order_by("rank"))
    until = forms.DateField(
        label=_("有效至（含）"), required=False, widget=_date_input(),
        help_text=_("留空则保持一个评估周期（12 个月），之后按积分重新评估。"),
    )  # fmt: skip
    reason = forms.CharField(label=_("原因（必填）"), max_length=200)

    def clean_until(self):
        until = self.cleaned_data.get("until")
        if until is not None and until <= timezone.localdate():
            raise forms.ValidationError(_("结束日期须晚于今天。"))
        return until

    def until_or_default(self) -> date:
        """The chosen end date, or one qualifying period from today."""
        from loyalty import policy

        return self.cleaned_data.get("until") or policy.add_months(
            timezone.localdate(), policy.EVALUATION_MONTHS
        )


class SegmentNotifyForm(forms.Form):
    segment = forms.ChoiceField(label=_("用户分层"), choices=Segment.choices)
    zombies = forms.ChoiceField(
        label=_("疑似僵尸号"), choices=ZombieAudience.choices, initial=ZombieAudience.ALL,
        required=False,
        help_text=_("可以不发给疑似僵尸号，或只发给它们。"),
    )  # fmt: skip
    title = forms.CharField(label=_("标题"), max_length=200)
    body = forms.CharField(
        label=_("正文"), required=False, max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )  # fmt: skip
    link = forms.CharField(
        label=_("链接"), required=False, max_length=500,
        help_text=_("本站页面以 / 开头，例如 /community/；站外链接须以 https:// 开头。"),
    )  # fmt: skip

    def clean_zombies(self) -> str:
        """A form posted without the choice (an older page) sends to the whole segment."""
        return self.cleaned_data.get("zombies") or ZombieAudience.ALL


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("原因"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class InvitationBatchForm(forms.Form):
    count = forms.IntegerField(label=_("数量"), min_value=1, max_value=1000, initial=10)
    max_uses = forms.IntegerField(
        label=_("每个邀请码可用次数"), min_value=1, max_value=10000, initial=1
    )
    expires_on = forms.DateField(
        label=_("有效期至"), required=False, help_text=_("留空表示长期有效；当天结束时失效。"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip
    batch = forms.CharField(
        label=_("批次名称"), required=False, max_length=100,
        help_text=_("留空则按创建时间自动命名。批次名称不能与已有批次重复。"),
    )  # fmt: skip

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day and day < timezone.localdate():
            raise forms.ValidationError(_("有效期不能早于今天。"))
        return day

    def clean_batch(self):
        batch = (self.cleaned_data.get("batch") or "").strip()
        if not batch:
            batch = timezone.localtime().strftime("batch-%Y%m%d-%H%M%S")
        if InvitationCode.objects.filter(batch=batch).exists():
            raise forms.ValidationError(_("这个批次名称已被使用，请换一个。"))
        return batch

    def expires_at(self) -> datetime | None:
        """The end of the chosen day in the site's time zone (the start of the next day)."""
        day = self.cleaned_data.get("expires_on")
        if not day:
            return None
        return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


class CustomerImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV 文件"),
        help_text=_("列：membership_number,name,tier；UTF-8 或 GBK 编码，最大 5 MB。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".csv"):
            raise forms.ValidationError(_("请上传 .csv 文件。"))
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("文件不能超过 5 MB。"))
        if upload.size == 0:
            raise forms.ValidationError(_("文件是空的。"))
        return upload


class BirthdayCorrectForm(forms.Form):
    """Staff set or correct a member's birthday (members set it once themselves)."""

    month = forms.TypedChoiceField(
        label=_("生日（月）"), coerce=int, choices=[(m, m) for m in range(1, 13)]
    )
    day = forms.TypedChoiceField(
        label=_("生日（日）"), coerce=int, choices=[(d, d) for d in range(1, 32)]
    )
    year = forms.IntegerField(label=_("出生年份（可不填）"), required=False, min_value=1900)
    reason = forms.CharField(label=_("原因（必填）"), max_length=200)
