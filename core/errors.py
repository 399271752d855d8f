"""Domain errors raised by services and turned into clear, translated messages by views.

Each error carries a user-facing message so views never have to guess what went wrong, and a
stable ``code`` for JSON APIs and logs.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "domain_error"
    default_message = _("操作未能完成。")

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.message = str(message or self.default_message)
        self.context = context
        super().__init__(self.message)


class PermissionDenied(DomainError):
    code = "permission_denied"
    default_message = _("您没有权限进行此操作。")


class NotFound(DomainError):
    code = "not_found"
    default_message = _("内容不存在或已下线。")


class Busy(DomainError):
    """A lock was not granted within the lock timeout (``core.locking``): nothing changed."""

    code = "busy"
    default_message = _("当前操作的人较多，请稍后再试。")
