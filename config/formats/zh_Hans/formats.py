"""Simplified Chinese: Django's formats, except a month and day without a leading zero."""

MONTH_DAY_FORMAT = "n月j日"  # 9月5日, like the day in DATE_FORMAT (Django has 09月5日)
