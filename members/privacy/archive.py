"""The export file: a zip of one JSON file per section, a CSV file for every list, a README.

JSON keeps every value as stored (times in ISO 8601 with their offset, Asia/Shanghai); CSV is
for spreadsheets (UTF-8 with a byte order mark, formula-like cells quoted by
``core.csvexport.csv_safe``). The README is written in the member's language.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.csvexport import csv_safe
from members.models import Member
from members.privacy.registry import Section, sections


def _plain(value: Any) -> Any:
    """A JSON-friendly copy: aware times in local time, dates and decimals as text."""
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _csv(rows: list[dict[str, Any]]) -> bytes:
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([csv_safe(column) for column in columns])
    for row in rows:
        cells = []
        for column in columns:
            value = _plain(row.get(column))
            if isinstance(value, (dict, list)):
                value = json.dumps(value, ensure_ascii=False, sort_keys=True)
            cells.append(csv_safe(value))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def _readme(member: Member, entries: list[tuple[Section, list[str]]], made_at: datetime) -> str:
    lines = [
        _("%(club)s · 个人信息副本") % {"club": settings.WAGTAIL_SITE_NAME},
        "",
        _("这是俱乐部保存的关于您的全部个人信息，按《个人信息保护法》第四十五条提供给您本人。"),
        _("生成时间：%(at)s（北京时间）")
        % {"at": timezone.localtime(made_at).strftime("%Y-%m-%d %H:%M")},
        _("会员编号：%(id)s") % {"id": member.pk},
        "",
        _("JSON 文件保留完整的数据结构；CSV 文件可以用 Excel 或 WPS 打开（UTF-8 编码）。"),
        _("时间均为北京时间（ISO 8601 格式）。空文件表示俱乐部没有这一类关于您的数据。"),
        "",
    ]
    for section, files in entries:
        lines.append(f"{', '.join(files)}")
        lines.append(f"    {section.title}: {section.description}")
    lines += [
        "",
        _(
            "如对这些数据有疑问、希望更正，或想退出俱乐部并删除个人信息，请在“我的账户”页面操作或联系俱乐部。"
        ),
        "",
    ]
    return "\n".join(str(line) for line in lines)


def _attach_files(zf: zipfile.ZipFile, folder: str, wanted: list[tuple[str, str]]) -> int:
    """Copy the member's own files from the media storage into ``folder/``; how many.

    A file missing from storage is left out (the JSON rows still describe it)."""
    count = 0
    for name, storage_name in wanted:
        try:
            with default_storage.open(storage_name, "rb") as handle:
                zf.writestr(f"{folder}/{name}", handle.read())
        except (OSError, ValueError):
            continue
        count += 1
    return count


def build_archive(
    member: Member, *, language: str, progress: Callable[[int], None] | None = None
) -> tuple[bytes, str]:
    """The zip's bytes and their SHA-256; ``progress`` is told the percentage done."""
    buffer = io.BytesIO()
    entries: list[tuple[Section, list[str]]] = []
    made_at = timezone.now()
    all_sections = sections()
    with translation.override(language), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for index, section in enumerate(all_sections, start=1):
            data = section.collect(member)
            files = [f"{section.name}.json"]
            zf.writestr(
                files[0], json.dumps(_plain(data), ensure_ascii=False, indent=2, sort_keys=False)
            )
            if isinstance(data, list):
                files.append(f"{section.name}.csv")
                zf.writestr(files[1], _csv(data))
            if section.files is not None:
                attached = _attach_files(zf, section.name, section.files(member))
                if attached:
                    files.append(f"{section.name}/ ({attached})")
            entries.append((section, files))
            if progress is not None:
                progress(int(90 * index / len(all_sections)))
        zf.writestr("README.txt", _readme(member, entries, made_at).encode("utf-8"))
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()
