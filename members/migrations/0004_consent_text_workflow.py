"""Consent texts edited by staff: English text, material flag, drafting and review fields.

Existing versions and every acceptance are kept as they are: a version published before this
migration stays published and counts as a material change (each one asked everyone again).
An unpublished version loses its number, which is now given at publication.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def keep_existing_versions(apps, schema_editor):
    ConsentText = apps.get_model("members", "ConsentText")
    ConsentText.objects.filter(published_at__isnull=False).update(material=True)
    ConsentText.objects.filter(published_at__isnull=True, acceptances__isnull=True).update(
        version=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0003_segments"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="consenttext",
            options={
                "ordering": [
                    models.OrderBy(models.F("version"), descending=True, nulls_first=True),
                    "-pk",
                ],
                "permissions": [("publish_consenttext", "可以审核并发布授权说明")],
                "verbose_name": "授权说明",
                "verbose_name_plural": "授权说明",
            },
        ),
        migrations.AddField(
            model_name="consenttext",
            name="based_on",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="members.consenttext",
                verbose_name="基于版本",
            ),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="body_en",
            field=models.TextField(blank=True, verbose_name="英文正文"),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="起草人",
            ),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="editors",
            field=models.ManyToManyField(
                blank=True, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="编辑人"
            ),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="material",
            field=models.BooleanField(
                default=True,
                help_text="重大变更会请所有会员在下次访问时重新同意；错别字等非重大修改不会。",
                verbose_name="重大变更",
            ),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="review_comment",
            field=models.TextField(blank=True, verbose_name="审核意见"),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="reviewed_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="审核人",
            ),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="submitted_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="提交审核时间"),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="submitted_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="提交人",
            ),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="title_en",
            field=models.CharField(blank=True, max_length=100, verbose_name="英文标题"),
        ),
        migrations.AddField(
            model_name="consenttext",
            name="updated_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="修改时间"),
        ),
        migrations.AlterField(
            model_name="consenttext",
            name="version",
            field=models.PositiveIntegerField(
                blank=True, null=True, unique=True, verbose_name="版本"
            ),
        ),
        migrations.RunPython(keep_existing_versions, migrations.RunPython.noop),
    ]
