"""What apps above ``members`` want to hear about a member's own actions.

``members`` cannot import the apps above it (share → community → loyalty → members → core), yet
loyalty pays for a completed profile. So an app registers a listener here from its
``AppConfig.ready`` (as with ``members.privacy.registry``), and the members service calls the
listeners after its transaction commits, with the member's id. A listener must be quick and
safe to call twice: it enqueues a task, it does not do the work.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[int], None]

_profile_completed: dict[str, Listener] = {}


def on_profile_completed(name: str, listener: Listener) -> None:
    """Add (or, on a repeated import, replace) a listener for "the profile is complete"."""
    _profile_completed[name] = listener


def profile_completed_listeners() -> list[Listener]:
    return list(_profile_completed.values())
