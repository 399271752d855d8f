"""The database itself refuses UPDATE and DELETE on offer claims (an append-only ledger).

``OfferClaim.save``/``delete`` and its queryset stop application code; this trigger also stops
raw SQL, a shell session or a future bug. It raises SQLSTATE 23001 (restrict_violation), which
Django reports as an ``IntegrityError``. TRUNCATE (used only by test database flushes) is not
affected.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION community_offerclaim_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER = """
CREATE TRIGGER community_offerclaim_append_only BEFORE UPDATE OR DELETE
ON community_offerclaim FOR EACH ROW EXECUTE FUNCTION community_offerclaim_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("community", "0004_participation")]

    operations = [
        migrations.RunSQL(
            sql=[FUNCTION, TRIGGER],
            reverse_sql=[
                "DROP TRIGGER IF EXISTS community_offerclaim_append_only ON community_offerclaim;",
                "DROP FUNCTION IF EXISTS community_offerclaim_refuse_change();",
            ],
        )
    ]
