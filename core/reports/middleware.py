"""Record daily active members as they use the site."""

from __future__ import annotations

from core.reports.services import daily_active_record


class DailyActiveMemberMiddleware:
    """After each response to a signed-in member, note the member active today.

    Staff are not members and are skipped without touching Redis; for members the service
    costs one Redis round trip per request and one INSERT per member and day.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not user.is_staff:
            daily_active_record(user_id=user.pk)
        return response
