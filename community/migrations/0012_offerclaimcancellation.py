"""Staff may take an offer claim back: one append-only cancellation row beside the claim.

As for the claims themselves (``0005``), the database refuses UPDATE and DELETE of what was
recorded. Only ``actor_id`` may change, to NULL, when a staff account is deleted.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

TRIGGER = """
CREATE TRIGGER community_offerclaimcancellation_append_only
BEFORE UPDATE OF id, claim_id, reason, points_refunded, points_taken_back, stock_returned,
    created_at OR DELETE
ON community_offerclaimcancellation FOR EACH ROW
EXECUTE FUNCTION community_offerclaim_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("community", "0011_allocation_waitlist_draws"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OfferClaimCancellation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reason", models.TextField(verbose_name="取消原因")),
                (
                    "points_refunded",
                    models.PositiveIntegerField(default=0, verbose_name="退回积分"),
                ),
                (
                    "points_taken_back",
                    models.PositiveIntegerField(default=0, verbose_name="收回奖励积分"),
                ),
                (
                    "stock_returned",
                    models.BooleanField(default=False, verbose_name="名额已退回库存"),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, verbose_name="取消时间"
                    ),
                ),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="操作人",
                    ),
                ),
                (
                    "claim",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cancellation",
                        to="community.offerclaim",
                        verbose_name="领取记录",
                    ),
                ),
            ],
            options={
                "verbose_name": "领取取消记录",
                "verbose_name_plural": "领取取消记录",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("reason", ""), _negated=True),
                        name="offer_claim_cancel_reason_set",
                    )
                ],
            },
        ),
        migrations.RunSQL(
            sql=TRIGGER,
            reverse_sql="DROP TRIGGER IF EXISTS community_offerclaimcancellation_append_only "
            "ON community_offerclaimcancellation;",
        ),
    ]
