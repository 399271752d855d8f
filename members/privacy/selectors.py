"""Reads about a member's data exports."""

from __future__ import annotations

from django.utils import timezone

from members.models import DataExport, Member


def data_export_of(member: Member | None, token: str) -> DataExport | None:
    """The member's own export behind ``token``; None for anyone else's (or none at all), so
    a link passed on to another member answers exactly like a link that never existed."""
    if member is None or not token:
        return None
    return DataExport.objects.filter(member=member, token=token).first()


def latest_data_export(member: Member) -> DataExport | None:
    return DataExport.objects.filter(member=member).order_by("-created_at", "-pk").first()


def is_downloadable(export: DataExport) -> bool:
    return (
        export.state == DataExport.State.READY
        and export.expires_at is not None
        and export.expires_at > timezone.now()
    )
