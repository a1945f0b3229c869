"""The building blocks of the reports: a table of aggregates, the rule of small
cells, the period of a report, and the geometry of a bar chart drawn as SVG.

Every report is a list of Tables. The page draws each as a chart and shows
the same numbers as a table; the CSV download writes the same cells. A count
of people below SMALL_CELL (but above zero) is never shown: the cell says
"< 3", so that no figure describes one or two identifiable people.
"""

import datetime
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.formats import date_format, number_format

from registry.rights.models import add_months

#: Counts of people below this (and above zero) are shown as "< 3".
SMALL_CELL = 3


class Small:
    """A count of one or two people: shown as "< 3", drawn as nothing."""

    def __str__(self):
        return f"< {SMALL_CELL}"

    def __eq__(self, other):
        return isinstance(other, Small)

    def __hash__(self):
        return hash(Small)

    __repr__ = __str__


SMALL = Small()


def people(count):
    """A count of people as it may be shown: 0, SMALL, or the count."""
    count = count or 0
    return SMALL if 0 < count < SMALL_CELL else count


def share(part, whole):
    """Part of the whole in percent (one decimal), or SMALL when the part is a
    small count of people; None when there is no whole."""
    if not whole:
        return None
    if 0 < part < SMALL_CELL:
        return SMALL
    return round(100 * part / whole, 1)


def plain(value):
    """A cell as text for the table and the CSV: "< 3", "-" for nothing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def shown(value):
    """A cell as the page shows it: as `plain`, a decimal localised."""
    if isinstance(value, float):
        return number_format(value, 1)
    return plain(value)


class DatedLabel(str):
    """A row's label with a day, a month or a moment in it: as text (the
    CSV, sorting, comparing) in ISO form ("Venyttely 12, 2026-07-29"), on
    the page in the interface's (`shown`: "Venyttely 12, 29.7.2026",
    "joulukuu 2025")."""

    def __new__(cls, moment, *, iso, display, prefix="", suffix=""):
        label = super().__new__(cls, f"{prefix}{moment:{iso}}{suffix}")
        label.moment, label.iso, label.display = moment, iso, display
        label.prefix, label.suffix = prefix, suffix
        return label

    def __reduce__(self):
        # Pickled (a cache, a copy) by what it was made of, not by its text.
        keywords = {"iso": self.iso, "display": self.display}
        keywords |= {"prefix": self.prefix, "suffix": self.suffix}
        return (functools.partial(DatedLabel, **keywords), (self.moment,))

    def shown(self):
        return f"{self.prefix}{date_format(self.moment, self.display)}{self.suffix}"


def shown_label(label):
    """A row's label as the page shows it (DatedLabel.shown)."""
    return label.shown() if isinstance(label, DatedLabel) else label


class LazyRows(Sequence):
    """Rows made from `items` by `row` only when read: a table of thousands
    of rows of which the page shows the last few builds only those (the CSV
    reads them all)."""

    def __init__(self, items, row):
        self.items, self.row = items, row

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.row(item) for item in self.items[index]]
        return self.row(self.items[index])


@dataclass
class Table:
    """One block of a report: rows of values, one column per series."""

    key: str
    title: str
    row_header: str
    columns: list
    rows: Sequence = field(default_factory=list)  # [(label, [value, ...]), ...]
    #: Values are percentages (the chart's scale ends at 100).
    percent: bool = False
    #: Draw a chart of it (a table of one row or of mixed units has none).
    chart: bool = True
    note: str = ""
    #: The page shows at most this many rows, the last ones (the CSV has all):
    #: a row per session can be thousands, megabytes of HTML.
    page_limit: int | None = None

    @property
    def header(self):
        return [self.row_header, *self.columns]

    @property
    def shown_rows(self):
        return [(label, [plain(value) for value in values]) for label, values in self.rows]

    @property
    def page_rows(self):
        """The rows as the page shows them: a decimal as the interface's
        language writes it (75,0 in Finnish); the CSV keeps the point."""
        rows = self.rows[-self.page_limit :] if self.is_cut else self.rows
        return [(shown_label(label), [shown(value) for value in values]) for label, values in rows]

    @property
    def is_cut(self):
        return self.page_limit is not None and len(self.rows) > self.page_limit


# --- The period of a report -------------------------------------------------


def month_start(day):
    return day.replace(day=1)


def months(first, last):
    """The first days of the months from `first` to `last`, both included."""
    month = month_start(first)
    result = []
    while month <= last:
        result.append(month)
        month = add_months(month, 1)
    return result


@dataclass
class Period:
    """Whole months, `first` to `last` (first days of the months)."""

    first: datetime.date
    last: datetime.date

    @classmethod
    def last_months(cls, count=12, *, ahead=0, today=None):
        """The last `count` months up to this one, and `ahead` months after it."""
        this = month_start(today or timezone.localdate())
        return cls(first=add_months(this, -(count - 1)), last=add_months(this, ahead))

    @property
    def months(self):
        return months(self.first, self.last)

    @property
    def start(self):
        """The period's first moment, in the current time zone."""
        return aware(self.first)

    @property
    def end(self):
        """The moment the period ends (the first moment after it)."""
        return aware(add_months(self.last, 1))

    def month_ends(self):
        """The last moment of each month, for states "at the month end": the
        moment the next month begins, or now for the month not yet over."""
        now = timezone.now()
        return [(month, min(aware(add_months(month, 1)), now)) for month in self.months]


def aware(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def month_of(value):
    """The first day of the month of a date or time (in the current time zone)."""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.replace(day=1)


# --- Charts -------------------------------------------------------------------

WIDTH, HEIGHT = 640, 240
LEFT, BOTTOM, TOP = 48, 40, 12


def nice_top(value):
    """A round number at or above `value` for the scale, whose quarters are
    whole numbers (the scale has four steps): 4, 8, 20, 40, 80, 200, ..."""
    power = 1
    while True:
        for multiple in (4, 8) if power == 1 else (2, 4, 8):
            if multiple * power >= value:
                return multiple * power
        power *= 10


def _number(value):
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


def bar_chart(table):
    """The geometry of a grouped bar chart of `table`: one group per row, one
    bar per column, in the register's greens (shades that stay apart in
    greyscale). The template draws it; nothing is computed in the browser."""
    rows = table.rows
    series = len(table.columns)
    if not rows or not series:
        return None
    top = 100 if table.percent else nice_top(max(_number(v) for _, vs in rows for v in vs))
    plot_width = WIDTH - LEFT - 8
    plot_height = HEIGHT - BOTTOM - TOP
    group = plot_width / len(rows)
    bar = max(1.0, group * 0.8 / series)
    bars, labels = [], []
    every = max(1, len(rows) // 12)  # at most about 12 labels under the axis
    for index, (label, values) in enumerate(rows):
        label = shown_label(label)
        x0 = LEFT + index * group + group * 0.1
        for number, value in enumerate(values):
            height = plot_height * _number(value) / top
            bars.append(
                {
                    "x": round(x0 + number * bar, 1),
                    "y": round(TOP + plot_height - height, 1),
                    "width": round(max(bar - 1, 1), 1),
                    "height": round(height, 1),
                    "shade": number % 4,
                    "title": f"{label}, {table.columns[number]}: {plain(value)}",
                }
            )
        if index % every == 0:
            labels.append({"x": round(LEFT + index * group + group / 2, 1), "text": str(label)})
    ticks = [
        {"y": round(TOP + plot_height - plot_height * part / 4, 1), "text": _tick(top * part / 4)}
        for part in range(5)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - 8,
        "baseline": TOP + plot_height,
        "label_y": TOP + plot_height + 16,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "legend": [{"text": str(name), "shade": n % 4} for n, name in enumerate(table.columns)],
        "percent": table.percent,
    }


def _tick(value):
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
