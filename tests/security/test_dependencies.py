"""No pinned runtime dependency has a known vulnerability (pip-audit).

What is audited is what production installs: the exact pins of requirements.txt and every
package they pull in, at the versions installed here (development tools are left out). pip-audit
asks PyPI's vulnerability data, then OSV; when neither can be reached (no network, or a package
mirror without PyPI's JSON API) the test is skipped and says so, instead of passing on an audit
that never happened.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import BASE_DIR

SERVICES = ("pypi", "osv")
UNREACHABLE_SIGNS = (
    "ConnectionError", "NameResolutionError", "Max retries exceeded",
    "Temporary failure in name resolution", "timed out", "ServiceError",
)  # fmt: skip


def runtime_pins() -> dict[str, str]:
    """name -> version for requirements.txt and its installed dependency closure."""
    roots: list[Requirement] = []
    pinned: dict[str, str] = {}
    for raw in (BASE_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            roots.append(requirement)
            (spec,) = requirement.specifier  # every runtime dependency is pinned with ==
            assert spec.operator == "==", f"{line}: runtime pins must be exact"
            pinned[canonicalize_name(requirement.name)] = spec.version
    found: dict[str, tuple[str, frozenset[str]]] = {}
    pending = list(roots)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = frozenset(requirement.extras)
        if name in found and extras <= found[name][1]:
            continue
        distribution = metadata.distribution(requirement.name)
        extras |= found.get(name, ("", frozenset()))[1]
        found[name] = (pinned.get(name, distribution.version), extras)
        for text in distribution.requires or []:
            child = Requirement(text)
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            ):
                pending.append(child)
    return {name: version for name, (version, _extras) in found.items()}


def audit(requirements_file, service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report, or None with the reason when the service was not reached."""
    result = subprocess.run(
        [sys.executable, "-m", "pip_audit", "--requirement", str(requirements_file), "--no-deps",
         "--disable-pip", "--vulnerability-service", service, "--format", "json",
         "--progress-spinner", "off"],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode not in (0, 1) or not result.stdout.strip():
        if any(sign in result.stderr for sign in UNREACHABLE_SIGNS):
            return None, result.stderr.strip().splitlines()[-1]
        raise AssertionError(f"pip-audit failed ({result.returncode}):\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    audited = [dep for dep in report["dependencies"] if "skip_reason" not in dep]
    if not audited:
        reasons = {dep["skip_reason"].split(":")[0] for dep in report["dependencies"]}
        return None, "; ".join(sorted(reasons))
    return report, ""


def test_runtime_pins_have_no_known_vulnerabilities(tmp_path):
    pins = runtime_pins()
    assert {"django", "wagtail", "pillow", "django-allauth"} <= set(pins)
    requirements = tmp_path / "runtime-requirements.txt"
    requirements.write_text(
        "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))
    )
    reasons = []
    for service in SERVICES:
        report, reason = audit(requirements, service)
        if report is not None:
            break
        reasons.append(f"{service}: {reason}")
    else:
        pytest.skip("vulnerability service cannot be reached (no network?): " + " | ".join(reasons))
    vulnerable = [
        f"{dep['name']} {dep['version']}: "
        + ", ".join(f"{v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release'})"
                    for v in dep["vulns"])
        for dep in report["dependencies"]
        if dep.get("vulns")
    ]  # fmt: skip
    assert vulnerable == [], "known vulnerabilities:\n" + "\n".join(vulnerable)
    skipped = [dep["name"] for dep in report["dependencies"] if "skip_reason" in dep]
    assert len(skipped) < len(pins) / 2, f"most packages were not audited: {skipped}"
