"""Forms of the staff screens in the Wagtail admin (see ``members.admin_views``)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import InvitationCode, Member, Tier

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class MemberFilterForm(forms.Form):
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
