"""Business actions on consent texts: staff draft, submit, review and publish new versions.

The workflow is draft → in review → published, or back to draft with the reviewer's comment.
Four eyes: nobody who wrote into a version (its author, its editors, whoever submitted it) may
approve it. A published version never changes; a change is a new draft ``based_on`` it.

Every action writes an audit entry (``consent_text.*``) in its own transaction, with summaries
of the text before and after. Members' acceptances live in ``members.services.consent_accept``;
whether a member must accept again is read by ``selectors.consent_baseline``.

Locks: only consent text rows, never a member's (these actions touch no member), so they stand
outside the member → … → audit order. A draft is locked ``FOR UPDATE`` before it changes;
publishing then locks the current published version, which serialises two publications so
that each gets the next version number.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.audit import audit_record
from core.errors import DomainError
from members import selectors
from members.models import ConsentText


class ConsentTextLocked(DomainError):
    code = "consent_text_locked"
    default_message = gettext_lazy("已提交或已发布的版本不能修改；请基于已发布的版本新建草稿。")


class ConsentTextWrongState(DomainError):
    code = "consent_text_wrong_state"
    default_message = gettext_lazy("该版本当前的状态不允许此操作，请刷新页面后再试。")


class FourEyesRequired(DomainError):
    code = "four_eyes_required"
    default_message = gettext_lazy("起草、修改或提交该版本的人不能审核它，请由另一位同事审核。")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _summary(text: ConsentText) -> dict[str, Any]:
    """What the audit entry keeps of a version: enough to prove which text was meant."""
    return {
        "state": text.state,
        "version": text.version,
        "material": text.material,
        "title": text.title,
        "title_en": text.title_en,
        "body_chars": len(text.body),
        "body_sha256": _digest(text.body),
        "body_en_chars": len(text.body_en),
        "body_en_sha256": _digest(text.body_en),
    }


def _locked(text: ConsentText) -> ConsentText:
    return ConsentText.objects.select_for_update().get(pk=text.pk)


def consent_text_create(
    *,
    actor,
    title: str,
    body: str,
    title_en: str = "",
    body_en: str = "",
    material: bool = True,
    based_on: ConsentText | None = None,
) -> ConsentText:
    """A new draft; ``based_on`` names the published version it changes (for the record)."""
    with transaction.atomic():
        text = ConsentText.objects.create(
            title=title, body=body, title_en=title_en, body_en=body_en, material=material,
            based_on=based_on, created_by=actor, updated_at=timezone.now(),
        )  # fmt: skip
        text.editors.add(actor)
        audit_record(
            action="consent_text.created",
            actor=actor,
            target=text,
            after=_summary(text),
            reason=f"based on v{based_on.version}" if based_on is not None else "",
        )
    return text


def consent_text_update(
    *,
    text: ConsentText,
    actor,
    title: str,
    body: str,
    title_en: str = "",
    body_en: str = "",
    material: bool = True,
) -> ConsentText:
    """Change a draft. Refused once it is submitted or published (``ConsentTextLocked``)."""
    with transaction.atomic():
        text = _locked(text)
        if text.state != ConsentText.State.DRAFT:
            raise ConsentTextLocked()
        before = _summary(text)
        text.title, text.body, text.title_en, text.body_en = title, body, title_en, body_en
        text.material = material
        text.updated_at = timezone.now()
        text.save(update_fields=["title", "body", "title_en", "body_en", "material", "updated_at"])
        text.editors.add(actor)
        audit_record(
            action="consent_text.edited", actor=actor, target=text, before=before,
            after=_summary(text),
        )  # fmt: skip
    return text


def consent_text_submit(*, text: ConsentText, actor) -> ConsentText:
    """Send a draft to review; it can no longer be edited unless the reviewer sends it back."""
    with transaction.atomic():
        text = _locked(text)
        if text.state != ConsentText.State.DRAFT:
            raise ConsentTextWrongState()
        before = _summary(text)
        text.submitted_at, text.submitted_by = timezone.now(), actor
        text.save(update_fields=["submitted_at", "submitted_by"])
        audit_record(
            action="consent_text.submitted", actor=actor, target=text, before=before,
            after=_summary(text),
        )  # fmt: skip
    return text


def _check_four_eyes(text: ConsentText, actor) -> None:
    writers = set(text.editors.values_list("pk", flat=True))
    writers.update(pk for pk in (text.created_by_id, text.submitted_by_id) if pk is not None)
    if actor.pk in writers:
        raise FourEyesRequired()


def consent_text_reject(*, text: ConsentText, actor, comment: str) -> ConsentText:
    """Send a version in review back to draft, with the reviewer's comment (required)."""
    comment = comment.strip()
    if not comment:
        raise DomainError(_("退回时请写明审核意见。"))
    with transaction.atomic():
        text = _locked(text)
        if text.state != ConsentText.State.IN_REVIEW:
            raise ConsentTextWrongState()
        _check_four_eyes(text, actor)
        before = _summary(text)
        text.submitted_at, text.submitted_by = None, None
        text.reviewed_by, text.review_comment = actor, comment
        text.save(update_fields=["submitted_at", "submitted_by", "reviewed_by", "review_comment"])
        audit_record(
            action="consent_text.rejected", actor=actor, target=text, before=before,
            after=_summary(text), reason=comment,
        )  # fmt: skip
    return text


def consent_text_approve(*, text: ConsentText, actor, comment: str = "") -> ConsentText:
    """Approve a version in review and publish it as the next version number.

    A material version asks every member to accept again on their next visit; a non-material
    one becomes the current text without asking. The first version ever published is material
    whatever the draft says: nobody has accepted anything before it.
    """
    with transaction.atomic():
        text = _locked(text)
        if text.state != ConsentText.State.IN_REVIEW:
            raise ConsentTextWrongState()
        _check_four_eyes(text, actor)
        before = _summary(text)
        text.reviewed_by, text.review_comment = actor, comment.strip()
        text.save(update_fields=["reviewed_by", "review_comment"])
        audit_record(
            action="consent_text.approved", actor=actor, target=text, before=before,
            after=_summary(text), reason=text.review_comment,
        )  # fmt: skip

        current = (
            ConsentText.objects.select_for_update()
            .filter(published_at__isnull=False)
            .order_by("-version")
            .first()
        )
        # Read again after the lock: a publication that held it has committed by now.
        highest = ConsentText.objects.aggregate(v=Max("version"))["v"] or 0
        text.version = highest + 1
        text.published_at = timezone.now()
        if current is None:
            text.material = True
        text.save(update_fields=["version", "published_at", "material"])
        audit_record(
            action="consent_text.published",
            actor=actor,
            target=text,
            before={"current_version": current.version if current else None},
            after=_summary(text),
        )
        selectors.consent_baseline_forget()
    return text
