"""Record daily active members as they use the site."""

from __future__ import annotations

from core.clock import local_today
from core.reports.services import daily_active_record


class DailyActiveMemberMiddleware:
    """After each response to a signed-in member, note the member active today.

    Staff are not members and are skipped. The service costs one Redis round trip (and one
    INSERT per member and day); this process remembers whom it has already noted today, so a
    member's later requests to the same process cost nothing. The memory is one small set per
    process, started afresh each day.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.day = None
        self.noted: set[int] = set()

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_staff:
            today = local_today()
            if today != self.day:
                self.day, self.noted = today, set()
            if user.pk not in self.noted:
                daily_active_record(user_id=user.pk, day=today)
                self.noted.add(user.pk)
        return response
