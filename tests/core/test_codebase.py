"""Standing checks on the codebase itself: migrations committed, lint clean, catalogues built."""

from __future__ import annotations

import ast
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    # Compared by content, not by file times (a checkout or a merge writes files in any order).
    compiled = subprocess.run(["msgfmt", "-o", "-", str(po)], capture_output=True, check=True)
    assert mo.exists() and mo.read_bytes() == compiled.stdout, "run manage.py compilemessages"
    untranslated = [
        block for block in po.read_text(encoding="utf-8").split("\n\n")[1:]
        if 'msgstr ""' in block and block.strip().endswith('msgstr ""')
    ]  # fmt: skip
    assert not untranslated, f"{len(untranslated)} strings lack an English translation"


# --- Every user-facing string reaches the catalogue ------------------------------------------

#: What ``makemessages`` reads besides the apps: no test, benchmark, sandbox or static file holds
#: a string a member or staff member sees in the club's own language switch.
MAKEMESSAGES_IGNORE = ("tests", "bench", "weibo_sandbox", "static", "var", "docs", "media",
                       "staticfiles", "test-results", "node_modules")  # fmt: skip
COPY_IGNORE = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", *MAKEMESSAGES_IGNORE)


def _po_entries(path: Path) -> dict[tuple[str, str], dict]:
    """(msgctxt, msgid) → {"msgstr": [...], "fuzzy": bool} of a .po file, header left out.

    ``msgcat --no-wrap`` first puts every string on one line, so each entry is a few lines.
    """
    text = subprocess.run(["msgcat", "--no-wrap", "--no-location", "--sort-output", str(path)],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    entries: dict[tuple[str, str], dict] = {}
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        fields: dict[str, list[str]] = {}
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        for line in lines:
            if line.startswith("#") or " " not in line:
                continue
            key, value = line.split(" ", 1)
            fields.setdefault(key.split("[")[0], []).append(value)
        if "msgid" not in fields or fields["msgid"] == ['""']:
            continue
        context = fields.get("msgctxt", [""])[0]
        entries[(context, fields["msgid"][0])] = {"msgstr": fields["msgstr"], "fuzzy": fuzzy}
    return entries


def test_makemessages_finds_no_string_missing_from_the_english_catalogue(tmp_path):
    """Run ``makemessages -l en`` on a copy of the project, never on the committed files.

    A string the code or a template marks for translation that the committed catalogue lacks,
    or has without a translation (or only a fuzzy guess), would reach an English reader in
    Chinese. Run ``makemessages`` and translate (docs/operations.md, Translations) when it fails.
    """
    copy = tmp_path / "project"
    shutil.copytree(BASE_DIR, copy, ignore=COPY_IGNORE)
    committed = BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
    ignores = [arg for name in MAKEMESSAGES_IGNORE for arg in ("-i", name)]
    env = {**os.environ, "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-obsolete", *ignores],
        cwd=copy, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    generated = _po_entries(copy / "locale" / "en" / "LC_MESSAGES" / "django.po")
    known = _po_entries(committed)
    missing = sorted(msgid for key, entry in generated.items() if key not in known
                     for msgid in [key[1]])  # fmt: skip
    untranslated = sorted(
        key[1] for key, entry in generated.items()
        if entry["fuzzy"] or any(value == '""' for value in entry["msgstr"])
    )  # fmt: skip
    assert not missing, f"{len(missing)} strings are not in the catalogue: {missing[:20]}"
    assert not untranslated, f"{len(untranslated)} strings lack a translation: {untranslated[:20]}"


#: The names ``makemessages`` extracts (Django's xgettext keywords and Python's own).
GETTEXT_FUNCTIONS = {"gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy",
                     "pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"}  # fmt: skip


def _project_python_files() -> list[Path]:
    skip = {"var", "node_modules", "media", "staticfiles", "test-results", "__pycache__"}
    found = []
    for root, dirs, files in os.walk(BASE_DIR):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
        found += [Path(root) / name for name in files if name.endswith(".py")]
    return found


def test_translation_functions_are_never_renamed():
    """``L = gettext_lazy`` or ``import gettext_lazy as t`` hides every string marked with the
    new name from ``makemessages``: those strings never reach the catalogue and stay Chinese for
    English readers. Only the real names, or ``_``, are extracted."""
    offences = []
    for path in _project_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(BASE_DIR)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation":
                offences += [
                    f"{where}:{node.lineno} imports {alias.name} as {alias.asname}"
                    for alias in node.names
                    if alias.name in GETTEXT_FUNCTIONS and alias.asname not in (None, "_")
                ]
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name | ast.Attribute):
                name = node.value.id if isinstance(node.value, ast.Name) else node.value.attr
                targets = {getattr(target, "id", None) for target in node.targets}
                if name in GETTEXT_FUNCTIONS and targets != {"_"}:
                    offences.append(f"{where}:{node.lineno} renames {name}")
    assert not offences, "translation functions under another name: " + "; ".join(offences)
