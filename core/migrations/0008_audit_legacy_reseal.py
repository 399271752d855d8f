"""Entries written before the keyed chain: verified under the old scheme, pseudonymised, and
left unsealed so that the sealer chains them again with the HMAC key (in their old order).

The old scheme was a plain SHA-256 chain, which anyone with SQL access could have rewritten and
re-hashed; it is checked here once, and the outcome (how many entries, the old head hash, any
broken ids) is written into the trail itself as an ``audit.resealed`` entry, so an export taken
before the upgrade can still be compared. A broken old chain stops the migration unless
``AUDIT_LEGACY_ACCEPT_BROKEN=true`` (then the broken ids are recorded in that entry).

The code is frozen here on purpose: it must not change when ``core.audit`` does.
"""

import hashlib
import json
import os
import secrets

from django.db import migrations

PERSONAL_KEYS = frozenset({
    "weibo_uid", "uid", "weibo_screen_name", "screen_name", "nickname", "display_name",
    "username", "name", "email", "phone", "mobile", "ip",
})  # fmt: skip


def _canonical(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _legacy_payload(entry):
    return {
        "id": entry.pk,
        "created_at": entry.created_at.isoformat() if entry.created_at else None,
        "action": entry.action,
        "actor_id": entry.actor_id,
        "actor_label": entry.actor_label,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "target_label": entry.target_label,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
        "ip": entry.ip,
    }


def reseal_legacy_entries(apps, schema_editor):
    AuditEntry = apps.get_model("core", "AuditEntry")
    AuditSubject = apps.get_model("core", "AuditSubject")
    entries = AuditEntry.objects.order_by("xact", "id")
    if not entries.exists():
        return

    previous, sealed, broken, unsealed = "", 0, [], []
    for entry in entries.iterator(chunk_size=2000):
        if not entry.entry_hash:
            unsealed.append(entry.pk)
            continue
        broken.extend(unsealed)
        unsealed = []
        sealed += 1
        expected = hashlib.sha256(
            f"{entry.previous_hash}|{_canonical(_legacy_payload(entry))}".encode()
        ).hexdigest()
        if entry.previous_hash != previous or entry.entry_hash != expected:
            broken.append(entry.pk)
        previous = entry.entry_hash
    accept = os.environ.get("AUDIT_LEGACY_ACCEPT_BROKEN", "").lower() in ("1", "true", "yes")
    if broken and not accept:
        raise RuntimeError(
            f"The audit trail fails its old SHA-256 verification ({len(broken)} entries, first "
            f"ids {broken[:20]}). Investigate, then set AUDIT_LEGACY_ACCEPT_BROKEN=true to "
            "re-seal it anyway (the broken ids are recorded in the trail)."
        )

    owners: dict[tuple[str, str], str] = {}

    def owner_of(target_type: str, target_id: str) -> str:
        ref = f"{target_type}:{target_id}"
        if (target_type, target_id) not in owners:
            owners[(target_type, target_id)] = ref
            try:
                model = apps.get_model(target_type)
            except (LookupError, ValueError):
                return ref
            for name in ("member", "user"):
                try:
                    relation = model._meta.get_field(name)
                except Exception:  # noqa: BLE001 - no such field
                    continue
                if not relation.concrete or not (relation.many_to_one or relation.one_to_one):
                    continue
                try:
                    value = (
                        model.objects.filter(pk=target_id)
                        .values_list(relation.attname, flat=True)
                        .first()
                    )
                except (ValueError, TypeError):
                    break
                if value is not None:
                    label = relation.related_model._meta.label
                    owners[(target_type, target_id)] = f"{label}:{value}"
                break
        return owners[(target_type, target_id)]

    subjects: dict[str, object] = {}

    def pseudonym(key: str, kind: str, owner: str, label: str) -> str:
        if key not in subjects:
            subjects[key] = AuditSubject(
                pseudonym=f"psn_{secrets.token_hex(8)}", kind=kind, key=key, owner=owner,
                label=str(label)[:255],
            )  # fmt: skip
        return subjects[key].pseudonym

    def personal(value, owner: str):
        if isinstance(value, dict):
            return {
                key: (
                    pseudonym(
                        f"{owner}|value|{key}|{hashlib.sha256(str(item).encode()).hexdigest()[:32]}",
                        "value", owner, item,
                    )
                    if key in PERSONAL_KEYS and item not in (None, "")
                    and not isinstance(item, dict | list)
                    else personal(item, owner)
                )
                for key, item in value.items()
            }  # fmt: skip
        if isinstance(value, list):
            return [personal(item, owner) for item in value]
        return value

    changed = []
    for entry in entries.iterator(chunk_size=2000):
        actor_owner = f"auth.User:{entry.actor_id}" if entry.actor_id else ""
        target_owner = ""
        if entry.actor_id:
            entry.actor_label = pseudonym(actor_owner, "object", actor_owner, entry.actor_label)
        if entry.target_type and entry.target_id:
            key = f"{entry.target_type}:{entry.target_id}"
            target_owner = owner_of(entry.target_type, entry.target_id)
            entry.target_label = pseudonym(key, "object", target_owner, entry.target_label)
        if entry.ip:
            owner = actor_owner or target_owner
            entry.ip_ref = pseudonym(f"{owner}|ip|{entry.ip}", "ip", owner, entry.ip)
        entry.before = personal(entry.before, target_owner or actor_owner)
        entry.after = personal(entry.after, target_owner or actor_owner)
        entry.previous_hash = entry.entry_hash = entry.key_id = ""
        changed.append(entry)
    AuditSubject.objects.bulk_create(subjects.values(), batch_size=1000)
    AuditEntry.objects.bulk_update(
        changed,
        ["actor_label", "target_label", "ip_ref", "before", "after", "previous_hash",
         "entry_hash", "key_id"],
        batch_size=1000,
    )  # fmt: skip
    AuditEntry.objects.create(
        action="audit.resealed",
        actor_label="migration",
        target_label="audit trail",
        target_id="audit trail",
        after={
            "legacy_scheme": "sha256",
            "legacy_entries": len(changed),
            "legacy_sealed": sealed,
            "legacy_head": previous,
            "legacy_broken": broken[:1000],
            "scheme": "hmac-sha256",
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_audit_keys_and_pseudonyms"),
    ]

    operations = [
        migrations.RunPython(reseal_legacy_entries, migrations.RunPython.noop, elidable=False),
    ]
