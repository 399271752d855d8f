"""English: day before month and a 24-hour clock, as the club's members read times in China."""

DATE_FORMAT = "j M Y"  # 5 Sep 2026
TIME_FORMAT = "H:i"  # 20:45
DATETIME_FORMAT = "j M Y, H:i"  # 5 Sep 2026, 20:45
MONTH_DAY_FORMAT = "j M"  # 5 Sep
