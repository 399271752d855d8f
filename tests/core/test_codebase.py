"""Standing checks on the codebase itself: migrations committed, lint clean, catalogues built."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import call_command

from tests.conftest import BASE_DIR


@pytest.mark.django_db
def test_every_model_change_has_a_committed_migration():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:
        pytest.fail(f"models changed without a migration:\n{out.getvalue()} ({exit_})")


def test_ruff_lint_and_format_are_clean():
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=BASE_DIR,
                          capture_output=True, text=True)  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "."], cwd=BASE_DIR,
                         capture_output=True, text=True)  # fmt: skip
    assert fmt.returncode == 0, fmt.stdout


def test_english_catalogue_is_compiled_and_current():
    po = BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime - 1
    untranslated = [
        block for block in po.read_text(encoding="utf-8").split("\n\n")[1:]
        if 'msgstr ""' in block and block.strip().endswith('msgstr ""')
    ]  # fmt: skip
    assert not untranslated, f"{len(untranslated)} strings lack an English translation"
