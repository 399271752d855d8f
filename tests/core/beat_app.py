"""The club's Celery app with a probe schedule, for the beat tests: jobs every few seconds,
sent to a queue no worker reads, so the test counts exactly what beat sent."""

import os

from config.celery import app

app.conf.beat_schedule = {
    "probe-every-second": {"task": "tests.beat_probe", "schedule": 1.0, "args": ["second"]},
    "probe-every-6s": {
        "task": "tests.beat_probe",
        "schedule": float(os.environ.get("BEAT_PROBE_SLOW_SECONDS", "6")),
        "args": ["slow"],
    },
}
