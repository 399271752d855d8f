"""The database itself refuses UPDATE and DELETE on the append-only loyalty tables.

Django's ``save``/``delete`` overrides stop application code; this trigger also stops raw SQL, a
psql shell or a future bug. It raises SQLSTATE 23001 (restrict_violation), which Django
reports as an ``IntegrityError``. TRUNCATE (used only by test database flushes) is not affected.
"""

from django.db import migrations

TABLES = ["loyalty_pointsentry", "loyalty_lotconsumption", "loyalty_tierchange"]

FUNCTION = """
CREATE OR REPLACE FUNCTION loyalty_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def _create(table: str) -> str:
    return (
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION loyalty_refuse_change();"
    )


def _drop(table: str) -> str:
    return f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=[FUNCTION, *[_create(table) for table in TABLES]],
            reverse_sql=[
                *[_drop(table) for table in TABLES],
                "DROP FUNCTION IF EXISTS loyalty_refuse_change();",
            ],
        )
    ]
