"""What the members app erases when a member leaves, besides the member row itself.

``member_leave`` blanks the Weibo profile, the token and the login; this covers the rest of the
members app and of ``core``: consent IP addresses, the application letter, decision reasons
(they quote invitation codes and membership numbers), the member's notifications and
notification settings, their downloadable exports, their sessions, and the derived profile
fields (segment, zombie signals) of the member row.
"""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone

from core.models import Notification, NotificationPreference
from members.models import AdmissionDecision, Application, Consent, DataExport
from members.privacy.registry import Departure, register_eraser
from members.privacy.services import storage_delete


def _end_stored_sessions(user_id: int) -> None:
    """Delete the user's stored sessions (database and cache), not only invalidate them.

    Sessions are not indexed by user, so the unexpired ones are decoded; leaving is rare.
    """
    from django.conf import settings
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX, SessionStore

    store = SessionStore()
    doomed = []
    live = Session.objects.filter(expire_date__gt=timezone.now())
    for key, data in live.values_list("session_key", "session_data").iterator(chunk_size=2000):
        if str(store.decode(data).get("_auth_user_id")) == str(user_id):
            doomed.append(key)
    if doomed:
        Session.objects.filter(session_key__in=doomed).delete()
        cache = caches[settings.SESSION_CACHE_ALIAS]
        cache.delete_many([KEY_PREFIX + key for key in doomed])


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
