"""Activity photo walls: members' pictures from the events they attended (see
``community/models_photos.py`` for the invariants)."""
