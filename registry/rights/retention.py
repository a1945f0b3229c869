"""The retention rule applied: by `manage.py retention` and by the register
manager on the retention review page alike."""

from django.db import transaction

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create

from .erasure import retention_erase
from .requesters import requesters_forget


@transaction.atomic
def retention_apply(*, customers, cutoff, by=None, request=None):
    """Erase the `customers` chosen who are still due (retention_erase),
    forget the requesters of the closed requests without a customer past the
    period (registry.rights.requesters), and audit the run itself, also when
    nobody was due: the health page shows when the rule was last applied.
    Returns (the erased customers, their references, how many were skipped,
    how many requests had their requester forgotten)."""
    erased, references, skipped = retention_erase(
        customers=customers, cutoff=cutoff, by=by, request=request
    )
    requesters = requesters_forget()
    audit_event_create(
        action=AuditEvent.Action.RETENTION_RUN,
        by=by,
        request=request,
        detail={
            "erased": len(references),
            "skipped": skipped,
            "requesters": requesters,
            "cutoff": cutoff.date().isoformat(),
        },
    )
    return erased, references, skipped, requesters
