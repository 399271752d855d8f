"""PIPL actions: a member's data export, erasure when they leave, the legal-hold copy, purges.

Every writer is one transaction; files are written to and deleted from Django's default
storage (private: nothing under it is served as public media) outside transactions or after
commit, so a rolled-back transaction never leaves a file that a row points at.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core import crypto
from core.audit import audit_record
from core.errors import DomainError
from core.locking import Lock, lock_one
from members.models import DataExport, Member, SealedCopy
from members.privacy.archive import build_archive
from members.privacy.registry import Departure, erasers

log = logging.getLogger(__name__)

EXPORT_PREFIX = "private/data-exports"
SEALED_PREFIX = "private/sealed-copies"
# An export still queued or running after this long lost its worker: it is marked failed, so
# the member can ask again (only one open export per member is allowed).
STALE_EXPORT = timedelta(hours=6)


def storage_delete(name: str) -> None:
    """Delete a file of ours from the default storage; a file already gone is no error."""
    if name:
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - a missing file is what we wanted anyway
            log.warning("could not delete %s", name, exc_info=True)


# --- Export ---------------------------------------------------------------------------------


def data_export_request(*, member: Member, language: str, ip: str | None = None) -> DataExport:
    """Start building the member's export; an export already in progress is returned instead."""
    from members.tasks import build_data_export

    with transaction.atomic():
        member = lock_one(Lock.MEMBER, Member.objects.filter(pk=member.pk))
        if member is None or member.state == Member.State.LEFT:
            raise DomainError(_("只有俱乐部会员可以导出个人数据。"))
        open_export = DataExport.objects.filter(
            member=member, state__in=[DataExport.State.QUEUED, DataExport.State.RUNNING]
        ).first()
        if open_export is not None:
            return open_export
        export = DataExport.objects.create(
            member=member,
            token=secrets.token_urlsafe(32),
            language="en" if (language or "").lower().startswith("en") else "zh-hans",
        )
        audit_record(
            action="member.data_export_requested", target=member, after={"export": export.pk},
            ip=ip, rule="member_request",
        )  # fmt: skip
        transaction.on_commit(lambda: build_data_export.delay(export.pk))
    return export


def data_export_build(*, export_id: int) -> str:
    """Build the zip of an export and make it downloadable; safe to run twice.

    The archive is read and written outside any transaction (it may take a while); progress is
    written as it goes, for the page the member watches. Only the run that moves the export
    from running to ready keeps its file: a second run, or one finishing after the member left,
    deletes what it wrote.
    """
    with transaction.atomic():
        export = DataExport.objects.select_for_update().filter(pk=export_id).first()
        if export is None:
            return "missing"
        if export.state not in (DataExport.State.QUEUED, DataExport.State.RUNNING):
            return export.state
        export.state = DataExport.State.RUNNING
        export.save(update_fields=["state"])
    member = Member.objects.select_related("tier", "user").get(pk=export.member_id)

    def progress(percent: int) -> None:
        DataExport.objects.filter(pk=export.pk, state=DataExport.State.RUNNING).update(
            progress=min(percent, 99)
        )

    try:
        data, digest = build_archive(member, language=export.language, progress=progress)
        name = default_storage.save(
            f"{EXPORT_PREFIX}/{member.pk}/{export.token}.zip", ContentFile(data)
        )
    except Exception as error:
        log.exception("data export %s failed", export.pk)
        DataExport.objects.filter(pk=export.pk, state=DataExport.State.RUNNING).update(
            state=DataExport.State.FAILED, error=str(error)[:200], finished_at=timezone.now()
        )
        return DataExport.State.FAILED
    now = timezone.now()
    with transaction.atomic():
        done = DataExport.objects.filter(pk=export.pk, state=DataExport.State.RUNNING).update(
            state=DataExport.State.READY, progress=100, file_name=name, size=len(data),
            sha256=digest, finished_at=now,
            expires_at=now + timedelta(days=settings.PRIVACY_EXPORT_DAYS),
        )  # fmt: skip
        if done:
            audit_record(
                action="member.data_export_ready", target=member,
                after={"export": export.pk, "size": len(data), "sha256": digest},
                rule="data_export",
            )  # fmt: skip
    if not done:
        storage_delete(name)
        return DataExport.objects.get(pk=export.pk).state
    return DataExport.State.READY


def data_export_downloaded(*, export: DataExport, ip: str | None = None) -> None:
    """Trace a download: the file carries personal data out of the club (留痕)."""
    with transaction.atomic():
        DataExport.objects.filter(pk=export.pk).update(downloads=F("downloads") + 1)
        audit_record(
            action="member.data_export_downloaded", target=export.member,
            after={"export": export.pk, "sha256": export.sha256}, ip=ip, rule="member_request",
        )  # fmt: skip


def data_exports_purge(*, now: datetime | None = None) -> int:
    """Delete the files of exports whose link expired, and fail exports that lost their worker.

    Run by beat; how many exports changed.
    """
    now = now or timezone.now()
    changed = 0
    stale = DataExport.objects.filter(
        state__in=[DataExport.State.QUEUED, DataExport.State.RUNNING],
        created_at__lt=now - STALE_EXPORT,
    ).update(state=DataExport.State.FAILED, error="not finished in time", finished_at=now)
    changed += stale
    due = DataExport.objects.filter(state=DataExport.State.READY, expires_at__lte=now)
    for export_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            export = (
                DataExport.objects.select_for_update()
                .filter(pk=export_id, state=DataExport.State.READY)
                .first()
            )
            if export is None:
                continue
            name = export.file_name
            export.state = DataExport.State.EXPIRED
            export.file_name = ""
            export.save(update_fields=["state", "file_name"])
            transaction.on_commit(lambda name=name: storage_delete(name))
        changed += 1
    return changed


# --- Legal hold -----------------------------------------------------------------------------


def legal_hold_seal(*, member: Member) -> SealedCopy | None:
    """Keep an encrypted copy of everything about a departing member while the law asks for it.

    Precondition: called by ``member_leave`` inside its transaction, before anything is erased.
    Nothing is kept when ``PRIVACY_LEGAL_HOLD_DAYS`` is 0 (the default). The file is written
    after commit; a row whose file is missing after commit means the write failed (logged).
    """
    days = settings.PRIVACY_LEGAL_HOLD_DAYS
    if days <= 0:
        return None
    data, digest = build_archive(member, language=settings.LANGUAGE_CODE)
    sealed = crypto.encrypt_bytes(data)
    copy = SealedCopy.objects.create(
        member=member, sha256=digest, size=len(sealed),
        hold_until=timezone.now() + timedelta(days=days),
    )  # fmt: skip
    audit_record(
        action="member.sealed_copy_made", target=member,
        after={"copy": copy.pk, "sha256": digest, "hold_until": copy.hold_until.isoformat()},
        rule="legal_hold",
    )  # fmt: skip

    def store() -> None:
        name = default_storage.save(
            f"{SEALED_PREFIX}/{member.pk}/{uuid.uuid4().hex}.zip.enc", ContentFile(sealed)
        )
        SealedCopy.objects.filter(pk=copy.pk).update(file_name=name)

    transaction.on_commit(store)
    return copy


def sealed_copy_open(*, copy: SealedCopy) -> bytes:
    """The plaintext zip of a sealed copy, checked against the digest taken when it was sealed."""
    if not copy.file_name:
        raise DomainError(_("该封存副本已销毁或没有文件。"))
    with default_storage.open(copy.file_name, "rb") as handle:
        data = crypto.decrypt_bytes(handle.read())
    if data is None or hashlib.sha256(data).hexdigest() != copy.sha256:
        raise DomainError(_("封存副本无法解密或已被改动。"))
    return data


def sealed_copies_purge(*, now: datetime | None = None) -> int:
    """Destroy sealed copies whose hold ended (beat); how many were destroyed."""
    now = now or timezone.now()
    purged = 0
    due = SealedCopy.objects.filter(purged_at__isnull=True, hold_until__lte=now)
    for copy_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            copy = (
                SealedCopy.objects.select_for_update()
                .filter(pk=copy_id, purged_at__isnull=True)
                .select_related("member")
                .first()
            )
            if copy is None:
                continue
            name = copy.file_name
            copy.file_name = ""
            copy.purged_at = now
            copy.save(update_fields=["file_name", "purged_at"])
            audit_record(
                action="member.sealed_copy_purged", target=copy.member,
                after={"copy": copy.pk, "sha256": copy.sha256}, rule="legal_hold",
            )  # fmt: skip
            transaction.on_commit(lambda name=name: storage_delete(name))
        purged += 1
    return purged


# --- Erasure --------------------------------------------------------------------------------


def placeholder_name() -> str:
    """The name a departed member is shown under, stored in the site's language."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("已退出会员")


def placeholder_text() -> str:
    """What replaces a departed member's words in the database (the page shows it translated)."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("该会员已退出，内容已删除")


def member_data_erase(*, member: Member) -> Departure:
    """Seal a copy if a legal hold applies, then erase the member's personal data in every app.

    Precondition: called by ``member_leave`` inside its transaction, with the member row locked
    and before the member row itself is anonymised (the erasers need the old names). Ledger
    rows, counts and sums stay as they are; text, addresses and network data go.
    """
    legal_hold_seal(member=member)
    names = tuple(
        dict.fromkeys(name for name in (member.display_name, member.weibo_screen_name) if name)
    )
    departure = Departure(
        member=member,
        names=names,
        weibo_uid=member.weibo_uid or "",
        avatar_url=member.weibo_avatar_url,
        placeholder_name=placeholder_name(),
        placeholder_text=placeholder_text(),
    )
    for _name, eraser in erasers():
        eraser(departure)
    return departure
