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
