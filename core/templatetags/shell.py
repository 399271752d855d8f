"""Template tags of the site shell."""

from django import template

from core.colour import parse_hex, readable_ink
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


def _badge_state(context) -> tuple[int, int]:
    """Unread count and newest notification id, read once per request."""
    from core.notifications import request_badge

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0, 0
    return request_badge(request)


@register.simple_tag(takes_context=True)
def unread_notifications(context) -> int:
    return _badge_state(context)[0]


@register.simple_tag(takes_context=True)
def last_notification_id(context) -> int:
    """The newest id the page already reflects; the script catches up from there."""
    return _badge_state(context)[1]


@register.inclusion_tag("core/_tier_badge.html")
def tier_badge(tier, label: str = "") -> dict:
    """A tier's badge, the same on every screen: the tier's colour with black or white text,
    whichever meets WCAG AA on it (``core.colour``). ``label`` replaces the tier's name."""
    if tier is None:
        return {"tier": None}
    colour = tier.badge_colour if parse_hex(tier.badge_colour) else "#8a8a8a"
    return {"tier": tier, "colour": colour, "ink": readable_ink(colour), "label": label}


_SECTIONS = (
    ("/community/my/activities/", "activities"),
    ("/community/", "community"),
    ("/points/", "points"),
    ("/members/", "me"),
    ("/notifications/", "me"),
    ("/share/mine/", "me"),
)


@register.simple_tag(takes_context=True)
def nav_section(context) -> str:
    """Which tab of the member's navigation the current page belongs to."""
    request = context.get("request")
    path = getattr(request, "path", "")
    return next((section for prefix, section in _SECTIONS if path.startswith(prefix)), "")
