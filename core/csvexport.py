"""CSV downloads that open safely and correctly in Excel and WPS.

Two concerns, shared by every app that offers a CSV download:

* Formula injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
  is executed as a formula by spreadsheet programs. Such cells get a leading single quote, which
  makes the program show the text as typed.
* Encoding: Excel only detects UTF-8 when the file starts with a byte order mark; without it,
  Chinese text turns into mojibake.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """The cell text for ``value``, quoted when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_response(
    filename: str, header: Iterable[Any], rows: Iterable[Iterable[Any]]
) -> HttpResponse:
    """A UTF-8 (with BOM) CSV attachment; every cell, header included, goes through csv_safe."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([csv_safe(cell) for cell in header])
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return response
