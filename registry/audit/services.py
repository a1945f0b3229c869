"""Writing to the audit trail, always inside the transaction of the change."""

from django.conf import settings
from django.db import connection, transaction

from registry.roles import role_code

from .models import CUSTOMER_TARGET, AuditEvent, AuditEventCustomer


def audit_event_create(
    *, action, by=None, target=None, request=None, detail=None, ip_address=None, target_key=None
):
    """Append one event to the audit trail. `ip_address` is for work done in
    the task worker on behalf of a request (the request's address).
    `target_key` (type, id) names a target known only by its key, as the
    trail's own pages know the customer an event is about.

    Call it inside the transaction of the change it records, so that the change
    and its trace are committed together or not at all.
    """
    actor = by if by is not None and by.is_authenticated else None
    if target is not None:
        target_key = (target._meta.label_lower, str(target.pk))
    target_type, target_id = target_key or ("", "")
    return AuditEvent.objects.create(
        actor=actor,
        actor_role=role_code(actor) if actor else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip_address=client_ip(request) if request is not None else ip_address,
        detail=detail or {},
    )


def audit_trail_exported(*, filters, count, by, request=None):
    """Record an export of the audit trail: its filters and rows."""
    audit_event_create(
        action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED,
        by=by,
        request=request,
        detail={"filters": {k: str(v) for k, v in filters.items() if v}, "rows": count},
    )


def customer_viewed(*, customer, by, request, via=None):
    """Record that a user saw a customer's record (call inside the read's transaction)."""
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        by=by,
        target=customer,
        request=request,
        detail={"via": via} if via else None,
    )


def event_about_customer_viewed(*, event, by, request):
    """Record admin's page of one event about a customer (it shows what the
    event recorded of them: a change's old and new values) as a read of
    that customer, as the register's own trail page is (the seventh probe).
    The event knows its customer by its key only: the trail sits below the
    register's models (tests/test_layout.py)."""
    key = event.target_id
    if event.target_type != CUSTOMER_TARGET or not (key.isascii() and key.isdigit()):
        return
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        by=by,
        target_key=(CUSTOMER_TARGET, key),
        request=request,
        detail={"via": "audit_event"},
    )


def customer_searched(
    *, query, result_count, by, request, shown=0, via=None, filters=None, shown_ids=None
):
    """Record a list of customers shown to a user: the search words (if any),
    the filters, how many matched and how many rows the page showed (a list
    is a read of every row on it; the unusual-activity alert counts them).

    `shown_ids` are the ids of the customers on the page: each gets a link row
    (AuditEventCustomer), all in one INSERT, so that the customer's own trail
    and access report find the list that showed them. The event and its
    links are written in one transaction, also from a view that is not
    atomic itself: never an event without the customers it showed."""
    detail = {"query": query[:200], "results": result_count, "rows": shown}
    if filters:
        detail["filters"] = {key: str(value)[:100] for key, value in filters.items() if value}
    if via:
        detail["via"] = via
    with transaction.atomic():
        event = audit_event_create(
            action=AuditEvent.Action.CUSTOMER_SEARCHED, by=by, request=request, detail=detail
        )
        link_shown_customers(event, shown_ids)
    return event


def customers_listed(*, ids, via, by, request):
    """Record a page that names exactly these customers (not a search: no
    words, every match shown): a list read, each customer linked. `ids`: an
    iterable of customer ids."""
    shown_ids = list(ids)
    return customer_searched(
        query="",
        result_count=len(shown_ids),
        shown=len(shown_ids),
        shown_ids=shown_ids,
        via=via,
        by=by,
        request=request,
    )


def link_shown_customers(event, customer_ids):
    """Link an event to the customers it showed: one INSERT for the page."""
    unique = list(dict.fromkeys(int(pk) for pk in customer_ids or () if pk is not None))
    if not unique:
        return
    if connection.vendor == "postgresql":
        # One statement of two parameters instead of 50 model instances:
        # 0.6 ms against bulk_create's 1.7 ms for a page of the customer list.
        meta = AuditEventCustomer._meta
        columns = (meta.get_field(name).column for name in ("event", "customer_id"))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "  # the model's table
                f"({', '.join(map(connection.ops.quote_name, columns))}) "
                "SELECT %s, unnest(%s::bigint[])",
                [event.pk, unique],
            )
        return
    AuditEventCustomer.objects.bulk_create(
        [AuditEventCustomer(event=event, customer_id=pk) for pk in unique]
    )


def link_selected_customers(event, customer_ids):
    """Link an event to the customers of a query (`customer_ids`: a queryset
    of one column, the customers' ids) in one INSERT ... SELECT: the
    database writes the rows, none comes to Python, so an export of 350,000
    customers links them in one statement and flat memory. Returns the
    number of links."""
    sql, params = customer_ids.query.sql_with_params()
    meta = AuditEventCustomer._meta
    columns = (meta.get_field(name).column for name in ("event", "customer_id"))
    with connection.cursor() as cursor:
        cursor.execute(
            # The table and columns are the model's; the inner query Django's own.
            f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "  # noqa: S608
            f"({', '.join(map(connection.ops.quote_name, columns))}) "
            f"SELECT %s, selected.* FROM ({sql}) selected",
            [event.pk, *params],
        )
        return cursor.rowcount


def client_ip(request):
    """The client's address: from the header the TLS proxy sets, else REMOTE_ADDR.

    Only trust a header that the proxy overwrites on every request; otherwise a
    client could choose its own address and dodge the login throttling.
    """
    header = settings.CLIENT_IP_HEADER
    if header:
        # X-Forwarded-For may hold a chain that the client started; the proxy
        # appends the address it saw last, so with one proxy that entry is true.
        value = request.META.get(header, "")
        candidates = [part.strip() for part in value.split(",") if part.strip()]
        if candidates:
            return candidates[-1]
    return request.META.get("REMOTE_ADDR") or None
