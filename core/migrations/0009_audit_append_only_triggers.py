"""The audit table refuses UPDATE, DELETE and TRUNCATE in the database itself.

One UPDATE passes: the sealer's, which fills the hashes and key id of an entry whose hash is
still empty and changes nothing else (compared as the whole row minus those three columns, so
a column added later is covered too). A table owner can still disable the triggers; the keyed
chain and the checkpoints kept outside the database are what catch that.
"""

from django.db import migrations

TABLE = "core_auditentry"

CREATE = f"""
CREATE FUNCTION core_auditentry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.entry_hash = '' AND NEW.entry_hash <> ''
           AND (to_jsonb(NEW) - 'entry_hash' - 'previous_hash' - 'key_id')
               = (to_jsonb(OLD) - 'entry_hash' - 'previous_hash' - 'key_id') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Corrections are new entries; only the sealer fills empty hashes.';
END
$$;
CREATE TRIGGER core_auditentry_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION core_auditentry_append_only();
CREATE TRIGGER core_auditentry_no_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION core_auditentry_append_only();
"""

DROP = f"""
DROP TRIGGER IF EXISTS core_auditentry_no_truncate ON {TABLE};
DROP TRIGGER IF EXISTS core_auditentry_append_only ON {TABLE};
DROP FUNCTION IF EXISTS core_auditentry_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0008_audit_legacy_reseal"),
    ]

    operations = [
        migrations.RemoveField(model_name="auditentry", name="ip"),
        migrations.RunSQL(CREATE, DROP),
    ]
