"""Pseudonyms: what the audit trail stores instead of names, IP addresses and personal values."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from core.audit.keys import audit_jsonable
from core.models import AuditEntry, AuditSubject, is_pseudonym

# Keys of ``before`` / ``after`` whose values identify a person, or are a member's own words
# (``comment_body``, kept by a moderation decision): stored as pseudonyms, so erasing the person
# erases them from the trail too.
PERSONAL_KEYS = frozenset({
    "weibo_uid", "uid", "weibo_screen_name", "screen_name", "nickname", "display_name",
    "username", "name", "email", "phone", "mobile", "ip", "comment_body", "birthday",
})  # fmt: skip


# --- Pseudonyms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditTarget:
    """A target named by type, id and label, for an object that need not exist any more (an
    entry of Wagtail's own log); ``owner`` is the person it belongs to, if any."""

    type: str
    id: str
    label: str = ""
    owner: str = ""


def _ref(obj: Any) -> str:
    return f"{obj._meta.label}:{obj.pk}"


def _owner_of(obj: Any) -> str:
    """The person an object belongs to, as a reference: the object its ``member`` or ``user``
    foreign key points to (a comment → its member, a member → their user), else itself."""
    for name in ("member", "user"):
        try:
            relation = obj._meta.get_field(name)
        except Exception:  # noqa: BLE001 - FieldDoesNotExist: not owned this way
            continue
        if not relation.concrete or not (relation.many_to_one or relation.one_to_one):
            continue  # a reverse relation, or not a foreign key
        owner_id = getattr(obj, relation.attname, None)
        if owner_id is not None:
            return f"{relation.related_model._meta.label}:{owner_id}"
    return _ref(obj)


def _new_pseudonym() -> str:
    return f"psn_{secrets.token_hex(8)}"


def _pseudonymise(entries: list[AuditEntry]) -> None:
    """Replace the labels, IP address and personal values of unsaved entries by pseudonyms,
    adding the mapping rows they need (one read and one bulk insert for all entries)."""
    actor_type = AuditEntry._meta.get_field("actor").related_model._meta.label
    wanted: dict[str, tuple[str, str, str]] = {}  # key -> (kind, owner, label)
    plans = []
    for entry in entries:
        entry.before = audit_jsonable(entry.before or {})
        entry.after = audit_jsonable(entry.after or {})
        actor_owner, target_owner = getattr(entry, "_audit_owners", ("", ""))
        plan: dict[str, Any] = {}
        if entry.actor_id and not is_pseudonym(entry.actor_label):
            key = f"{actor_type}:{entry.actor_id}"
            actor_owner = actor_owner or key
            wanted[key] = (AuditSubject.Kind.OBJECT, actor_owner, entry.actor_label)
            plan["actor_label"] = key
        if entry.target_type and entry.target_id and not is_pseudonym(entry.target_label):
            key = f"{entry.target_type}:{entry.target_id}"
            target_owner = target_owner or key
            wanted[key] = (AuditSubject.Kind.OBJECT, target_owner, entry.target_label)
            plan["target_label"] = key
        ip = getattr(entry, "_audit_ip", "")
        if ip:
            owner = actor_owner or target_owner
            key = f"{owner}|ip|{ip}"
            wanted[key] = (AuditSubject.Kind.IP, owner, ip)
            plan["ip_ref"] = key
        value_owner = target_owner or actor_owner

        def personal(name: str, value: Any, owner: str = value_owner) -> Any:
            if value in (None, "") or is_pseudonym(value) or isinstance(value, dict | list):
                return value
            digest = hashlib.sha256(str(value).encode()).hexdigest()[:32]
            key = f"{owner}|value|{name}|{digest}"
            wanted[key] = (AuditSubject.Kind.VALUE, owner, str(value))
            return ("key", key)

        plan["before"] = _map_personal(entry.before, personal)
        plan["after"] = _map_personal(entry.after, personal)
        plans.append(plan)
    if not wanted:
        return
    current: dict[str, tuple[str, str]] = {}
    keys = list(wanted)
    for start in range(0, len(keys), 5000):
        rows = (
            AuditSubject.objects.filter(key__in=keys[start : start + 5000])
            .order_by("key", "-id")
            .values_list("key", "pseudonym", "label")
        )
        for key, pseudonym, label in rows:
            current.setdefault(key, (pseudonym, label))
    new_rows, pseudonyms = [], {}
    for key, (kind, owner, label) in wanted.items():
        pseudonym, known_label = current.get(key, (None, None))
        if pseudonym is None:
            pseudonym = _new_pseudonym()
        if known_label != label:  # new, or renamed since: the newest row gives the label
            new_rows.append(AuditSubject(pseudonym=pseudonym, kind=kind, key=key,
                                         owner=owner, label=label))  # fmt: skip
        pseudonyms[key] = pseudonym
    AuditSubject.objects.bulk_create(new_rows, batch_size=1000)
    for entry, plan in zip(entries, plans, strict=True):
        for name in ("actor_label", "target_label", "ip_ref"):
            if name in plan:
                setattr(entry, name, pseudonyms[plan[name]])
        entry.before = _fill_keys(plan["before"], pseudonyms)
        entry.after = _fill_keys(plan["after"], pseudonyms)


def _map_personal(value: Any, personal) -> Any:
    if isinstance(value, dict):
        return {
            key: personal(key, item) if key in PERSONAL_KEYS and not isinstance(item, dict | list)
            else _map_personal(item, personal)
            for key, item in value.items()
        }  # fmt: skip
    if isinstance(value, list):
        return [_map_personal(item, personal) for item in value]
    return value


def _fill_keys(value: Any, pseudonyms: dict[str, str]) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "key":
        return pseudonyms[value[1]]
    if isinstance(value, dict):
        return {key: _fill_keys(item, pseudonyms) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_keys(item, pseudonyms) for item in value]
    return value


def audit_resolve(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """The entries, with every pseudonym they hold resolved in one query, for display
    (``actor_name``, ``target_name``, ``ip``, ``before_shown``, ``after_shown``)."""
    entries = list(entries)
    pseudonyms: set[str] = set()
    for entry in entries:
        pseudonyms.update(entry.pseudonyms())
    labels = AuditSubject.objects.labels(pseudonyms)
    for entry in entries:
        entry._resolved_labels = labels
    return entries


def audit_subject_pseudonyms(text: str) -> list[str]:
    """Pseudonyms whose current label contains ``text`` (the log's actor and target filters)."""
    return list(
        AuditSubject.objects.filter(label__icontains=text, forgotten_at__isnull=True)
        .values_list("pseudonym", flat=True)
        .distinct()[:1000]
    )


def audit_forget_person(*, user: Any = None, member: Any = None) -> int:
    """Erase a person from the audit trail: blank the label and key of every pseudonym that
    stands for them or for something of theirs (their IP addresses, their personal values,
    objects whose ``member`` / ``user`` is them). Entries keep their pseudonyms, so the sealed
    chain is unchanged and still verifies. Runs in the caller's transaction; safe to repeat.

    Give the member's user and member both where there are both. Returns how many mapping rows
    were blanked.
    """
    owners: set[str] = set()
    for obj in (user, member):
        if obj is not None and obj.pk is not None:
            owners.update((_ref(obj), _owner_of(obj)))
    if not owners:
        return 0
    return AuditSubject.objects.filter(
        Q(owner__in=owners) | Q(key__in=owners), forgotten_at__isnull=True
    ).update(label="", key="", forgotten_at=timezone.now())
