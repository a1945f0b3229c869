"""One date and time format in the Finnish interface: 5.12.2026 klo 18.00.

Django's Finnish formats spell the month out (5. joulukuuta 2026 kello 18.00);
the register shows dates as Finns write them by hand, everywhere the same.
"""

DATE_FORMAT = "j.n.Y"
SHORT_DATE_FORMAT = "j.n.Y"
TIME_FORMAT = "G.i"
DATETIME_FORMAT = r"j.n.Y \k\l\o G.i"
SHORT_DATETIME_FORMAT = r"j.n.Y \k\l\o G.i"
MONTH_DAY_FORMAT = "j.n."
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
