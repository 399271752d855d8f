"""The first consent text, so a fresh installation can admit members before staff edit it."""

from django.db import migrations
from django.utils import timezone

from members.defaults import FIRST_CONSENT, FIRST_CONSENT_TITLE


def create(apps, schema_editor):
    ConsentText = apps.get_model("members", "ConsentText")
    if not ConsentText.objects.exists():
        ConsentText.objects.create(
            version=1, title=FIRST_CONSENT_TITLE, body=FIRST_CONSENT, published_at=timezone.now()
        )


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
