"""Template tags of the site shell."""

from django import template

from members.selectors import viewer_for_request
from members.selectors import viewer_status as select_viewer_status

register = template.Library()


@register.simple_tag(takes_context=True)
def viewer_status(context):
    """The viewer's state for the header, computed once per request."""
    request = context.get("request")
    if request is None:
        return select_viewer_status(None)
    return viewer_for_request(request)


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    from core.notifications import unread_count

    request = context.get("request")
    user = getattr(request, "user", None)
    return unread_count(user) if user is not None and user.is_authenticated else 0


@register.simple_tag(takes_context=True)
def last_notification_id(context) -> int:
    """The newest id the page already reflects; the script catches up from there."""
    from core.models import Notification

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user).values_list("pk", flat=True).first() or 0
