"""Cross-cutting pieces every app uses: health, real-time events, domain errors, audit trail.

Kept deliberately small; business rules live in the feature apps.
"""
