"""What the members app erases when a member leaves, besides the member row itself.

``member_leave`` blanks the Weibo profile, the token and the login; this covers the rest of the
members app and of ``core``: consent IP addresses, the application letter, decision reasons
(they quote invitation codes and membership numbers), the member's notifications and
notification settings, their downloadable exports, their sessions, and the derived profile
fields (segment, zombie signals) of the member row.
"""

from __future__ import annotations

from django.db import transaction

from core.models import Notification, NotificationPreference
from members.models import AdmissionDecision, Application, Consent, DataExport, MemberSession
from members.privacy.registry import Departure, register_eraser
from members.privacy.services import storage_delete


def _end_stored_sessions(user_id: int) -> None:
    """Delete the user's stored sessions, not only invalidate them (each row names its user)."""
    MemberSession.objects.filter(user_id=user_id).delete()


def erase_members_data(departure: Departure) -> None:
    member = departure.member
    Consent.objects.filter(member=member).update(ip=None)
    Application.objects.filter(member=member).update(message="")
    AdmissionDecision.objects.filter(member=member).update(reason="")
    Notification.objects.filter(user_id=member.user_id).delete()
    NotificationPreference.objects.filter(user_id=member.user_id).delete()
    names = list(
        DataExport.objects.filter(member=member)
        .exclude(file_name="")
        .values_list("file_name", flat=True)
    )
    DataExport.objects.filter(member=member).exclude(state=DataExport.State.EXPIRED).update(
        state=DataExport.State.EXPIRED, file_name=""
    )
    if names:
        transaction.on_commit(lambda: [storage_delete(name) for name in names])
    user_id = member.user_id
    transaction.on_commit(lambda: _end_stored_sessions(user_id))
    # Fields of the member row ``member_leave`` does not blank itself; it saves the row after.
    member.segment = ""
    member.segment_reasons = {}
    member.segment_since = None
    member.zombie_suspected = False
    member.zombie_reasons = []
    member.weibo_verified = False
    member.weibo_verified_type = -1
    member.weibo_default_avatar = False
    member.weibo_refreshed_at = None
    member.last_seen_at = None
    member.show_name_on_shares = False
    member.birthday_month = member.birthday_day = member.birthday_year = None


def register() -> None:
    register_eraser("members", erase_members_data)
