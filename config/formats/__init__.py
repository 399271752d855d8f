"""The club's date and time formats per language (``FORMAT_MODULE_PATH``).

Templates name a format (``|date:"DATETIME_FORMAT"``), never spell one out, so a date reads
``2026年9月5日 20:45`` in Chinese and ``5 Sep 2026, 20:45`` in English. Only the formats that
differ from Django's own for the language are set here.
"""
