"""Sessions stored with the user they belong to (``members.sessions`` says why).

Models live here rather than in ``members/models.py`` so that module stays about membership;
they are imported at its bottom and belong to the ``members`` app.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils.translation import gettext_lazy as _


class MemberSession(AbstractBaseSession):
    """Django's session row plus the id of the user signed in on it.

    No foreign-key constraint: a session is written at the end of a request, and a user deleted
    meanwhile must not make that write fail. A session naming a user that is gone reads as
    signed out.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING,
        db_constraint=False, related_name="+", verbose_name=_("用户"),
    )  # fmt: skip

    class Meta(AbstractBaseSession.Meta):
        verbose_name = _("登录会话")
        verbose_name_plural = _("登录会话")

    @classmethod
    def get_session_store_class(cls):
        from members.sessions import SessionStore

        return SessionStore
