"""Forms members fill in themselves (the staff screens' forms are in ``admin_forms``)."""

from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members import selectors
from members.models import Member
from members.services import Birthday

MONTHS = [("", _("月")), *[(str(m), str(m)) for m in range(1, 13)]]
DAYS = [("", _("日")), *[(str(d), str(d)) for d in range(1, 32)]]


class ProfileForm(forms.Form):
    """The member's profile: the name the club shows and, once, their birthday.

    A birthday already given is shown, not editable (``services.member_profile_update`` keeps
    it set-once); the form then only changes the name.
    """

    display_name = forms.CharField(label=_("昵称"), max_length=100)
    birthday_month = forms.TypedChoiceField(
        label=_("生日（月）"), choices=MONTHS, coerce=int, empty_value=None, required=False
    )
    birthday_day = forms.TypedChoiceField(
        label=_("生日（日）"), choices=DAYS, coerce=int, empty_value=None, required=False
    )
    birthday_year = forms.IntegerField(
        label=_("出生年份（可不填）"), required=False, min_value=1900,
        help_text=_("生日填写后不能自行修改，请核对后再保存。"),
    )  # fmt: skip

    def __init__(self, *args, member: Member, **kwargs):
        self.member = member
        initial = {
            "display_name": member.display_name,
            "birthday_month": member.birthday_month,
            "birthday_day": member.birthday_day,
            "birthday_year": member.birthday_year,
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.birthday_locked = member.birthday_month is not None
        if self.birthday_locked:
            for name in ("birthday_month", "birthday_day", "birthday_year"):
                self.fields[name].disabled = True
        this_year = timezone.localdate().year
        self.fields["birthday_year"].validators.append(MaxValueValidator(this_year))
        self.fields["birthday_year"].widget.attrs["max"] = this_year

    def clean(self):
        data = super().clean()
        if self.birthday_locked:
            return data
        month, day, year = (data.get(f"birthday_{p}") for p in ("month", "day", "year"))
        if (month is None) != (day is None):
            raise forms.ValidationError(_("请同时选择生日的月份和日期。"))
        if month is None and year is not None:
            raise forms.ValidationError(_("请先选择生日的月份和日期。"))
        if month is not None and not selectors.birthday_valid(month, day, year):
            raise forms.ValidationError(_("这个日期不存在，请检查月份和日期。"))
        return data

    def birthday(self) -> Birthday | None:
        """The birthday the member gave now (None: none given, or already on file)."""
        data = self.cleaned_data
        if self.birthday_locked or data.get("birthday_month") is None:
            return None
        return Birthday(data["birthday_month"], data["birthday_day"], data.get("birthday_year"))
