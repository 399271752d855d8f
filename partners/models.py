"""The partner API's own records: signing keys and the answers kept for idempotent retries.

The partner itself, its members' links, holds and statements are loyalty's (one ledger); this
app is the interface partners reach the ledger through.

* **Keys.** A key id is public; its secret is shown to staff once, when issued, and kept only
  encrypted (``core.crypto``): verifying an HMAC needs the secret itself, so a hash would not
  do. A key works while it is not revoked and, after a rotation, until its ``expires_at``.
* **Idempotency.** Every write carries an ``Idempotency-Key``; the first answer is stored with
  the digest of the request it answered, unique per partner and key. The same key with the same
  request gets the same answer; with another request, 409.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Partner


def new_key_id() -> str:
    return "pk_" + secrets.token_hex(12)


class PartnerKey(models.Model):
    partner = models.ForeignKey(
        Partner, verbose_name=_("合作伙伴"), on_delete=models.PROTECT, related_name="keys"
    )
    key_id = models.CharField(_("密钥编号"), max_length=40, unique=True, default=new_key_id)
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(_("签发时间"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    expires_at = models.DateTimeField(
        _("失效时间"), null=True, blank=True, help_text=_("轮换后旧密钥在此时间前仍可使用。")
    )
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("接口密钥")
        verbose_name_plural = _("接口密钥")
        default_permissions = ()
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.key_id

    def usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class PartnerRequest(models.Model):
    """The stored answer to one write, by the partner's ``Idempotency-Key``."""

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=100)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    request_sha256 = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "idempotency_key"], name="partner_request_key_once"
            ),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="partner_request_key"),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.idempotency_key} → {self.status}"
