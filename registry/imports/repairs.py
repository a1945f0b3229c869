"""The consents an older import dated at noon (registry.repairs).

Before ec2cf38 an import dated the consents of its file at noon, local time,
of the day the file stated (of the import's own day when it stated none).
The ledger's state is its latest event by when it happened, so such a
consent beat a withdrawal or an objection the customer made that morning,
or later than the import but before noon. The import now dates a consent at
the start of the stated day, never after the import's moment
(ImportOptions.consent_moment); this moves the old ones there.

A consent is the old import's, and only then moved, when all of these hold:
its customer was added by that import (Customer.imported_in); it is a
consent given, with the import's method and the import's wording for its
channel; it is dated exactly at noon of the day the old code took; and it
was recorded while the import was writing, between the upload and the
moment the import was done. A consent recorded by hand for a customer an
import added is recorded after the import is done (the customer is not
there before), so a consent typed in at noon is never moved. Consents
of a record merged into another lose their link to the import and stay.
"""

import datetime
import functools
import operator
from collections import defaultdict

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.audit.models import CUSTOMER_TARGET, AuditEvent
from registry.models import Consent
from registry.reach import reach_changed
from registry.repairs import register_repair

from .analysis import ImportOptions
from .models import CustomerImport

#: Imports read into one query: SQLite refuses a WHERE much deeper than this.
IMPORTS_AT_ONCE = 200
#: Consents re-dated in one UPDATE.
CONSENTS_AT_ONCE = 2000


def _noon(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


def _old_noons(options, customer_import):
    """When the old code dated the import's consents: noon of the stated
    day, or of the day it wrote them (between the upload and the end)."""
    if options.consent_date:
        return [_noon(options.consent_date)]
    day = timezone.localdate(customer_import.created_at)
    last = timezone.localdate(customer_import.applied_at)
    noons = []
    while day <= last:
        noons.append(_noon(day))
        day += datetime.timedelta(days=1)
    return noons


def _options(customer_import):
    """The import's stated day and method (ImportOptions, without reading
    the wordings: their ids are in the JSON) and its wording per channel."""
    data = customer_import.options or {}
    date = data.get("consent_date")
    options = ImportOptions(
        consent_date=datetime.date.fromisoformat(date) if date else None,
        consent_method=data.get("consent_method") or Consent.Method.WEB_FORM,
    )
    texts = {
        Consent.Channel.EMAIL: data.get("email_text"),
        Consent.Channel.SMS: data.get("sms_text"),
    }
    return options, {channel: pk for channel, pk in texts.items() if pk}


def _old_consents(customer_import):
    """A Q of the consents the import wrote at noon, or None (it wrote none)."""
    options, texts = _options(customer_import)
    if not texts:
        return None
    wordings = functools.reduce(
        operator.or_, (Q(channel=channel, text_id=pk) for channel, pk in texts.items())
    )
    return wordings & Q(
        customer__imported_in=customer_import.pk,
        event=Consent.Event.CONSENT_GIVEN,
        method=options.consent_method,
        occurred_at__in=_old_noons(options, customer_import),
        recorded_at__gte=customer_import.created_at,
        recorded_at__lte=customer_import.applied_at,
    )


def _chunks():
    """(imports by id, a Q of their consents at noon), IMPORTS_AT_ONCE at a time."""
    imports = list(
        CustomerImport.objects.filter(applied_at__isnull=False)
        .only("pk", "created_at", "applied_at", "options")
        .order_by("pk")
    )
    for start in range(0, len(imports), IMPORTS_AT_ONCE):
        chunk = {}
        for customer_import in imports[start : start + IMPORTS_AT_ONCE]:
            if (wanted := _old_consents(customer_import)) is not None:
                chunk[customer_import.pk] = (customer_import, wanted)
        if chunk:
            yield chunk, functools.reduce(operator.or_, (q for _i, q in chunk.values()))


def noon_consents_due():
    """How many consents an older import dated at noon are still there."""
    return sum(Consent.objects.filter(q).count() for _chunk, q in _chunks())


@register_repair(
    "import_consents",
    label=_("consents an older import dated at noon"),
    due=noon_consents_due,
)
def noon_consents_redate(now):
    """Date each consent an older import dated at noon where the import now
    dates it: the start of the stated day, not after the import's moment
    (ImportOptions.consent_moment, with the moment the consent was
    recorded, the import's). Each one audited (*consent re-dated*: the
    event by its number, the import, when it was dated before and after).
    Returns how many were re-dated."""
    redated = 0
    for chunk, q in _chunks():
        rows = Consent.objects.filter(q).values_list(
            "pk",
            "customer_id",
            "customer__imported_in",
            "channel",
            "event",
            "method",
            "occurred_at",
            "recorded_at",
        )
        moved = defaultdict(list)
        trail = []
        for pk, customer_id, import_id, channel, event, method, was, recorded_at in rows:
            options, _texts = _options(chunk[import_id][0])
            moment = options.consent_moment(recorded_at)
            if moment == was:
                continue
            moved[moment].append(pk)
            trail.append(
                AuditEvent(
                    at=now,
                    action=AuditEvent.Action.CONSENT_REDATED,
                    target_type=CUSTOMER_TARGET,
                    target_id=str(customer_id),
                    detail={
                        "consent_id": pk,
                        "channel": channel,
                        "event": event,
                        "method": method,
                        "import": import_id,
                        "occurred_at_was": timezone.localtime(was).isoformat(),
                        "occurred_at": timezone.localtime(moment).isoformat(),
                    },
                )
            )
        for moment, ids in moved.items():
            for start in range(0, len(ids), CONSENTS_AT_ONCE):
                Consent.objects.filter(pk__in=ids[start : start + CONSENTS_AT_ONCE]).redate(moment)
        AuditEvent.objects.bulk_create(trail, batch_size=CONSENTS_AT_ONCE)
        redated += len(trail)
    if redated:
        reach_changed()
    return redated
