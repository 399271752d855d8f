"""The Celery application shared by web processes (which enqueue) and workers (which run).

Tasks are discovered in each app's ``tasks.py``; settings come from Django settings with the
``CELERY_`` prefix so that one environment drives web, worker and beat alike.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("club")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# One beat, enforced: a beat sends scheduled jobs only while it holds a lease (config/beat.py).
app.conf.beat_scheduler = "config.beat:LeasedScheduler"
