from django.db import migrations, models


class Migration(migrations.Migration):
    """Audit entries name the key their HMAC was computed with and keep IP addresses as
    pseudonyms; the mapping of pseudonyms to labels lives in its own table."""

    dependencies = [
        ("core", "0006_audit_sealing"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditSubject",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("pseudonym", models.CharField(db_index=True, max_length=20, verbose_name="化名")),
                (
                    "kind",
                    models.CharField(
                        choices=[("object", "对象"), ("ip", "IP 地址"), ("value", "个人数据")],
                        max_length=10,
                        verbose_name="类型",
                    ),
                ),
                ("key", models.CharField(blank=True, db_index=True, max_length=300)),
                ("owner", models.CharField(blank=True, db_index=True, max_length=120)),
                ("label", models.CharField(blank=True, max_length=255, verbose_name="名称")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "forgotten_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="删除时间"),
                ),
            ],
            options={
                "verbose_name": "审计化名",
                "verbose_name_plural": "审计化名",
                "default_permissions": (),
            },
        ),
        migrations.AddField(
            model_name="auditentry",
            name="ip_ref",
            field=models.CharField(blank=True, max_length=20, verbose_name="IP 地址（化名）"),
        ),
        migrations.AddField(
            model_name="auditentry",
            name="key_id",
            field=models.CharField(blank=True, max_length=32),
        ),
    ]
