"""The register's reports: customers, consents, data subject requests.

Only aggregates leave these functions: counts per month and kind, never a row
of a person. Each report costs a fixed number of queries whatever the number
of customers or months.
"""

import statistics
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, F, IntegerField, Q, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lead, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from registry.models import (
    CONTACT_RULES,
    REACHABLE_BY,
    Consent,
    Customer,
    Filled,
    MarketingChannel,
    NotRestricted,
    contact_rules_q,
)
from registry.rights.models import DataSubjectRequest, add_months
from registry.rights.selectors import retention_candidates

from .tables import SMALL, DatedLabel, Table, month_of, people, share

#: Activity within this many months makes a customer active.
ACTIVE_MONTHS = 12
#: How far ahead the retention forecast looks, in months.
RETENTION_AHEAD_MONTHS = 3


def _month_label(month):
    return DatedLabel(month, iso="%Y-%m", display="YEAR_MONTH_FORMAT")


def _per_month(queryset, field, *, period, by=None):
    """{(month, by-value): count} of `queryset` rows whose `field` is in the period."""
    rows = (
        queryset.filter(**{f"{field}__gte": period.start, f"{field}__lt": period.end})
        .annotate(month=TruncMonth(field))
        .values("month", *([by] if by else []))
        .annotate(count=Count("pk"))
    )
    return {(month_of(row["month"]), row[by] if by else None): row["count"] for row in rows}


def _per_date_month(queryset, field, *, period, by):
    """As _per_month, for a date field (received_on)."""
    rows = (
        queryset.filter(**{f"{field}__gte": period.first, f"{field}__lt": period.end.date()})
        .annotate(month=TruncMonth(field))
        .values("month", by)
        .annotate(count=Count("pk"))
    )
    return {(month_of(row["month"]), row[by]): row["count"] for row in rows}


# --- Customers ---------------------------------------------------------------


def customers_report(period):
    sources = Customer.Source.choices
    counts = _per_month(Customer.objects.all(), "created_at", period=period, by="source")
    new = Table(
        key="new-customers",
        title=_("New customers per month, by how the relationship began"),
        row_header=_("Month"),
        columns=[label for _value, label in sources] + [_("Total")],
        rows=[
            (
                _month_label(month),
                [people(counts.get((month, value), 0)) for value, _label in sources]
                + [people(sum(counts.get((month, value), 0) for value, _label in sources))],
            )
            for month in period.months
        ],
        note=_("Customers erased since are no longer counted."),
    )
    now = timezone.now()
    active_since = add_months(now, -ACTIVE_MONTHS)
    totals = Customer.objects.aggregate(
        total=Count("pk"), active=Count("pk", filter=Q(last_activity_at__gte=active_since))
    )
    active = Table(
        key="active-customers",
        title=_("Active customers (activity within %(months)s months)")
        % {"months": ACTIVE_MONTHS},
        row_header=_("Customers"),
        columns=[_("Number"), _("Share, %")],
        rows=[
            (
                _("All customers"),
                [people(totals["total"]), share(totals["total"], totals["total"])],
            ),
            (_("Active"), [people(totals["active"]), share(totals["active"], totals["total"])]),
        ],
        chart=False,
    )
    return [new, active, retention_forecast()]


def retention_forecast(now=None):
    """Customers the retention rule will list, now and by the end of each of
    the next months (the rule of registry.rights.selectors.retention_candidates:
    no activity for RETENTION_MONTHS, no open request, no coming course, no
    restriction of processing)."""
    now = now or timezone.now()
    horizons = [(_("Due now"), now)] + [
        (
            ngettext("Within %(months)s month", "Within %(months)s months", months)
            % {"months": months},
            add_months(now, months),
        )
        for months in range(1, RETENTION_AHEAD_MONTHS + 1)
    ]
    cutoffs = {
        f"h{index}": Count(
            "pk",
            filter=Q(last_activity_at__lt=add_months(moment, -settings.RETENTION_MONTHS)),
        )
        for index, (_label, moment) in enumerate(horizons)
    }
    counts = retention_candidates(
        cutoff=add_months(horizons[-1][1], -settings.RETENTION_MONTHS)
    ).aggregate(**cutoffs)
    return Table(
        key="retention",
        title=_("Customers due for retention (erasure after %(months)s months without activity)")
        % {"months": settings.RETENTION_MONTHS},
        row_header=_("When"),
        columns=[_("Customers")],
        rows=[
            (label, [people(counts[f"h{index}"])]) for index, (label, _m) in enumerate(horizons)
        ],
    )


# --- Consents -----------------------------------------------------------------


def reachable_at(moment):
    """How many customers (added before `moment`) own direct marketing could
    reach by each channel at `moment`: one query, the rules of CONTACT_RULES
    as they stood then (contact_rules_q with `at`): the ledger's events
    before `moment`, and a restriction of processing (GDPR art. 18) that
    began before it and lasts still. Contact details are read as they are now
    (their history is not kept), and so is whether a restriction lasts: one
    lifted since left no date, and those months count the customer by the
    ledger. At now this is what the marketing lists count
    (CustomerQuerySet.contactable_by). The oracle of reachable_at_month_ends."""
    return Customer.objects.filter(created_at__lt=moment).aggregate(
        total=Count("pk"),
        **{
            str(channel): Count("pk", filter=contact_rules_q(channel, at=moment))
            for channel in MarketingChannel
        },
    )


def _restricted_but_reachable(ends):
    """(month end index, channel) for each customer who was restricted at
    that month end (restricted_since before it; the restriction lasts) and
    whom the channel's other rules would have let it reach then, by the
    ledger as it stood. Restricted customers are few (a partial index holds
    them): two queries, read in Python by the rules' own reading
    (ContactCondition.holds), so no rule is written twice."""
    customers = list(
        Customer.objects.filter(restricted_since__lt=ends[-1]).only(
            "created_at", "restricted_since", *_CONTACT_FIELDS
        )
    )
    if not customers:
        return []
    ledger = {}
    events = (
        Consent.objects.filter(customer__in=[customer.pk for customer in customers])
        .order_by("occurred_at", "id")
        .values_list("customer_id", "occurred_at", "channel", "event")
    )
    for customer_id, occurred_at, channel, event in events:
        ledger.setdefault(customer_id, []).append((occurred_at, channel, event))
    rules = {
        str(channel): [rule for rule in conditions if not isinstance(rule, NotRestricted)]
        for channel, conditions in CONTACT_RULES.items()
    }
    found = []
    for customer in customers:
        for index, end in enumerate(ends):
            if customer.created_at >= end or customer.restricted_since >= end:
                continue
            latest = {}
            for occurred_at, channel, event in ledger.get(customer.pk, ()):
                if occurred_at < end:
                    latest[channel] = event  # in ledger order: the last one wins
            found += [
                (index, channel)
                for channel, conditions in rules.items()
                if all(rule.holds(customer, latest) for rule in conditions)
            ]
    return found


#: The fields CONTACT_RULES' Filled conditions read.
_CONTACT_FIELDS = sorted(
    {
        field
        for conditions in CONTACT_RULES.values()
        for rule in conditions
        if isinstance(rule, Filled)
        for field in rule.fields
    }
)


def _of_customer(condition):
    """A condition on Customer's fields, as seen from a row that refers to it."""
    return Q(
        *(
            _of_customer(child) if isinstance(child, Q) else (f"customer__{child[0]}", child[1])
            for child in condition.children
        ),
        _connector=condition.connector,
        _negated=condition.negated,
    )


def _bucket(column, stamps):
    """SQL for how many of the month ends `stamps` are at or before `column`
    (NULL: after all of them), and its parameters: an event at that moment
    counts from that month end on, as Python's bisect_right would place it.
    The month ends are compared as moments, so no time zone arithmetic is
    needed in SQL (nor differs between PostgreSQL and SQLite)."""
    whens = " ".join(f"WHEN {column} < %s THEN {index}" for index in range(len(stamps)))
    return f"CASE WHEN {column} IS NULL THEN {len(stamps)} {whens} ELSE {len(stamps)} END", [
        connection.ops.adapt_datetimefield_value(stamp) for stamp in stamps
    ]


def _later(a, b):
    return f"CASE WHEN {a} > {b} THEN {a} ELSE {b} END"


def _earlier(a, b):
    """The earlier of two ends, NULL standing for "not yet ended"."""
    return f"CASE WHEN {a} IS NULL THEN {b} WHEN {b} IS NULL OR {a} < {b} THEN {a} ELSE {b} END"


def _stretches(ends):
    """The ledger as stretches of one state, counted by the month ends they
    cover, in one query: [(kind, channel, has_email, has_phone, has_post,
    first month end covered, first month end not covered, count)].

    Each ledger event starts a stretch of its channel's state that lasts until
    the customer's next event on that channel (a window, LEAD, over the
    ledger), and not before the customer was added. Kinds: "given" (email or
    SMS consent in force), "objected" (an objection in force) and "both" (the
    overlap of a consent and an objection of the same customer, which
    subtracts from the consent's reach). Only these counts leave the
    database."""
    ledger = (
        Consent.objects.filter(occurred_at__lt=ends[-1])
        .order_by()
        .values(
            who=F("customer_id"),
            way=F("channel"),
            what=F("event"),
            since=F("occurred_at"),
            until=Window(
                Lead("occurred_at"),
                partition_by=[F("customer_id"), F("channel")],
                order_by=[F("occurred_at").asc(), F("id").asc()],
            ),
            added=F("customer__created_at"),
            **{
                f"has_{channel}": ExpressionWrapper(
                    _of_customer(REACHABLE_BY[channel]), output_field=BooleanField()
                )
                for channel in (
                    MarketingChannel.EMAIL,
                    MarketingChannel.PHONE,
                    MarketingChannel.POST,
                )
            },
        )
    )
    ledger_sql, ledger_params = ledger.query.sql_with_params()
    first, first_params = _bucket("since", ends)
    last, last_params = _bucket("until", ends)
    given, objected = str(Consent.Event.CONSENT_GIVEN), str(Consent.Event.OBJECTION)
    # Only our own SQL and the ORM's is formatted in; every value is a parameter.
    sql = f"""
        WITH ledger AS ({ledger_sql}),
        stretches AS (
            SELECT 'given' AS kind, way, has_email, has_phone, has_post,
                   {_later("since", "added")} AS since, until
            FROM ledger WHERE what = %s
            UNION ALL
            SELECT 'objected', way, has_email, has_phone, has_post,
                   {_later("since", "added")}, until
            FROM ledger WHERE what = %s
            UNION ALL
            SELECT 'both', g.way, g.has_email, g.has_phone, g.has_post,
                   {_later(_later("g.since", "o.since"), "g.added")},
                   {_earlier("g.until", "o.until")}
            FROM ledger g JOIN ledger o ON o.who = g.who
            WHERE g.what = %s AND o.what = %s
              AND (g.until IS NULL OR o.since < g.until)
              AND (o.until IS NULL OR g.since < o.until)
        )
        SELECT kind, way, has_email, has_phone, has_post, {first}, {last}, COUNT(*)
        FROM stretches
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    """  # noqa: S608
    params = [
        *ledger_params,
        given,
        objected,
        given,
        objected,
        *first_params,
        *last_params,
    ]
    if connection.vendor != "postgresql":
        # One statement, no transaction: SQLite begins every transaction
        # IMMEDIATE (settings.py), taking the write lock, which would make
        # each save in the register wait for the report (reading, it blocks
        # no save: the database is in write-ahead-log mode).
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    # The transaction is for SET LOCAL only (the statement is its own snapshot).
    with transaction.atomic(), connection.cursor() as cursor:
        # PostgreSQL expects a few hundred stretches from the CTE (it cannot
        # see how many ledger rows are consents) and sorts the 80,000 of
        # 200,000 customers on disk to group them; a hash is a fifth faster
        # (250-380 -> 210-250 ms). For this statement only.
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(sql, params)
        stretches = cursor.fetchall()
        cursor.execute("SET LOCAL enable_sort TO DEFAULT")
        return stretches


def reachable_at_month_ends(period):
    """reachable_at for every month end of the period, in four queries at
    most whatever the number of months or customers: the customers counted
    by the month they were added, and the ledger's stretches of one state
    counted by the month ends they cover (_stretches: window functions in
    the database, so that only those counts leave it); then those restricted
    at a month end are taken off (_restricted_but_reachable). One query per
    month end took seconds on 200,000 customers; reading the ledger into
    Python took 0.8 s of CPU. The last month end of a month not yet over is
    now: its counts are the marketing lists' (restricted customers left out)."""
    ends = [moment for _month, moment in period.month_ends()]
    count = len(ends)
    channels = [str(channel) for channel in MarketingChannel]
    email, post, phone = (
        str(MarketingChannel.EMAIL),
        str(MarketingChannel.POST),
        str(MarketingChannel.PHONE),
    )
    # Who is there at each month end, and whose details allow post and phone
    # (all of them may be reached so unless they objected: subtracted below).
    # The first month end each customer is counted at, by comparing moments
    # (_bucket): a third cheaper than truncating 200,000 local times to months.
    quote = connection.ops.quote_name
    created = f"{quote(Customer._meta.db_table)}.{quote('created_at')}"
    bucket, bucket_params = _bucket(created, ends)
    # Our own SQL; the month ends are parameters.
    first_counted = RawSQL(bucket, bucket_params, output_field=IntegerField())  # noqa: S611
    added = (
        Customer.objects.filter(created_at__lt=ends[-1])
        .annotate(first=first_counted)
        .values("first")
        .annotate(
            total=Count("pk"),
            **{channel: Count("pk", filter=REACHABLE_BY[channel]) for channel in (post, phone)},
        )
        .order_by()
    )
    totals = {key: [0] * count for key in ["total", *channels]}
    for row in added:
        first = row["first"]
        for index in range(first, count):
            for key in ("total", post, phone):
                totals[key][index] += row[key]
    # A stretch covering month ends first..last-1 adds its sign to each.
    change = {channel: [0] * (count + 1) for channel in channels}
    for kind, way, has_email, has_phone, has_post, first, last, number in _stretches(ends):
        if first >= last:
            continue  # over before a month end came (or before the customer was added)
        if kind == "objected":
            reached = [post] * bool(has_post) + [phone] * bool(has_phone)
            sign = -1
        else:
            has = has_email if way == email else has_phone
            reached = [way] if has else []
            sign = 1 if kind == "given" else -1
        for channel in reached:
            change[channel][first] += sign * number
            change[channel][last] -= sign * number
    for channel in channels:
        running = 0
        for index in range(count):
            running += change[channel][index]
            totals[channel][index] += running
    for index, channel in _restricted_but_reachable(ends):
        totals[channel][index] -= 1
    return [{key: values[index] for key, values in totals.items()} for index in range(count)]


def consents_report(period):
    channels = list(MarketingChannel)
    shares = [
        (
            _month_label(month),
            [share(counts[str(channel)], counts["total"]) for channel in channels],
        )
        for month, counts in zip(period.months, reachable_at_month_ends(period), strict=True)
    ]
    reach = Table(
        key="reachable",
        title=_("Share of customers own direct marketing may reach, at each month end"),
        row_header=_("Month"),
        columns=[channel.label for channel in channels],
        rows=shares,
        percent=True,
        note=_(
            "Email and SMS need a consent that was not withdrawn; post and phone are "
            "allowed unless the customer objected; nobody whose processing is restricted "
            "is counted, from the day it was restricted. The consents as they stood at each "
            "month end; contact details, and whether a restriction still lasts, as they are "
            "today. The month not yet over counts as the marketing lists do now."
        ),
    )
    kinds = [
        (Consent.Channel.EMAIL, Consent.Event.CONSENT_WITHDRAWN, _("Email consent withdrawn")),
        (Consent.Channel.SMS, Consent.Event.CONSENT_WITHDRAWN, _("SMS consent withdrawn")),
        (Consent.Channel.DIRECT_MARKETING, Consent.Event.OBJECTION, _("Objections")),
        (Consent.Channel.DIRECT_MARKETING, Consent.Event.OBJECTION_LIFTED, _("Objections lifted")),
    ]
    events = (
        Consent.objects.filter(
            occurred_at__gte=period.start,
            occurred_at__lt=period.end,
            event__in=[
                Consent.Event.CONSENT_WITHDRAWN,
                Consent.Event.OBJECTION,
                Consent.Event.OBJECTION_LIFTED,
            ],
        )
        .annotate(month=TruncMonth("occurred_at"))
        .values("month", "channel", "event")
        .annotate(count=Count("customer", distinct=True))
    )
    counts = {
        (month_of(row["month"]), row["channel"], row["event"]): row["count"] for row in events
    }
    withdrawals = Table(
        key="withdrawals",
        title=_("Withdrawals and objections per month"),
        row_header=_("Month"),
        columns=[label for _c, _e, label in kinds],
        rows=[
            (
                _month_label(month),
                [people(counts.get((month, channel, event), 0)) for channel, event, _l in kinds],
            )
            for month in period.months
        ],
        note=_("Customers erased since are no longer counted: their ledger went with them."),
    )
    return [reach, withdrawals]


# --- Data subject requests ------------------------------------------------------


def rights_report(period, today=None):
    today = today or timezone.localdate()
    kinds = DataSubjectRequest.Kind.choices
    requests = DataSubjectRequest.objects.all()
    counts = _per_date_month(requests, "received_on", period=period, by="kind")
    per_month = Table(
        key="requests",
        title=_("Requests received per month, by kind"),
        row_header=_("Month"),
        columns=[label for _value, label in kinds] + [_("Total")],
        rows=[
            (
                _month_label(month),
                [people(counts.get((month, value), 0)) for value, _label in kinds]
                + [people(sum(counts.get((month, value), 0) for value, _label in kinds))],
            )
            for month in period.months
        ],
    )
    received = requests.filter(received_on__gte=period.first, received_on__lt=period.end.date())
    rows = received.values_list("kind", "received_on", "completed_on", "deadline", "status")
    by_kind = {value: [] for value, _label in kinds}
    for kind, received_on, completed_on, deadline, status in rows:
        by_kind[kind].append((received_on, completed_on, deadline, status))
    answering = Table(
        key="answer-days",
        title=_("Days to answer, requests received in the period"),
        row_header=_("Request"),
        columns=[
            _("Received"),
            _("Answered"),
            _("Median days"),
            _("Longest, days"),
            _("Answered late"),
            _("Open past the deadline"),
        ],
        rows=[
            *((label, _answer_figures(by_kind[value], today)) for value, label in kinds),
            (
                _("All requests"),
                _answer_figures([case for cases in by_kind.values() for case in cases], today),
            ),
        ],
        chart=False,
        note=_(
            "Late: answered after the deadline (one month, or as extended with a reason). "
            "Days are shown when at least 3 requests were answered."
        ),
    )
    return [per_month, answering]


def _answer_figures(cases, today):
    answered = [
        (completed_on - received_on).days
        for received_on, completed_on, _d, status in cases
        if status in DataSubjectRequest.CLOSED and completed_on
    ]
    late = sum(
        1
        for _r, completed_on, deadline, status in cases
        if status in DataSubjectRequest.CLOSED and completed_on and completed_on > deadline
    )
    overdue = sum(
        1
        for _r, _c, deadline, status in cases
        if status not in DataSubjectRequest.CLOSED and deadline < today
    )
    enough = len(answered) >= 3
    return [
        people(len(cases)),
        people(len(answered)),
        statistics.median(answered) if enough else (SMALL if answered else None),
        max(answered) if enough else (SMALL if answered else None),
        people(late),
        people(overdue),
    ]


def retention_due_within(days):
    """How many customers the retention rule lists within `days` days."""
    cutoff = add_months(timezone.now() + timedelta(days=days), -settings.RETENTION_MONTHS)
    return retention_candidates(cutoff=cutoff).count()
