"""A member's rights under PIPL (《个人信息保护法》): a copy of their data, and erasure.

* ``registry``: each app registers the export sections and the eraser for its own tables.
* ``archive``: the zip (JSON and CSV per section, README in the member's language).
* ``services``: the export's life (request, build in Celery, download, expiry), erasure on
  leaving (``member_data_erase``, called by ``members.services.member_leave``), the sealed
  copy kept under a legal hold, and the beat purges. See ``docs/privacy.md``.
"""
