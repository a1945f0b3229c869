"""The suppression list: an objection that outlives the erasure (issue 21).

When a customer whose latest marketing state was an objection to direct
marketing or a withdrawn consent is erased (on request or by retention), a
keyed hash of their normalised email address and phone number is kept, with
the time, and nothing else (SuppressedContact). The hash cannot be turned back
into the address without SUPPRESSION_KEY, and is compared only with addresses
typed or imported later:

- a customer added with a suppressed address, by an import or by hand
  (customer_create), gets an objection to direct marketing dated when the
  address was put on the list (method "suppression list"), so that they are
  on no marketing list: the list does not say which channel was refused,
  and post and phone are opt-out;
- a consent column of an import does not give a consent to a suppressed
  address (the row is imported without it);
- the customer form warns when an existing customer's address is changed to
  a suppressed one, and says what to do;
- only staff re-enable marketing: the objection lifted, and for email or SMS
  a consent recorded dated after the suppression (ConsentForm refuses an
  earlier date for a suppressed address).
"""

import datetime
import hashlib
import hmac

from django.conf import settings
from django.db.models import F, Min

from .expressions import OneOf
from .marketing.models import SuppressedContact
from .models import Consent
from .phones import parse_phone


def normalised_email(email):
    return "".join(str(email or "").split()).casefold()


def normalised_phone(phone):
    """E.164 when the number parses, else its digits."""
    text = str(phone or "").strip()
    if not text:
        return ""
    parsed = parse_phone(text)
    if parsed:
        return str(parsed)
    return "".join(ch for ch in text if ch.isdigit())


def digest(kind, value):
    key = settings.SUPPRESSION_KEY.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def digests_of(*, email="", phone="", valid_e164=""):
    """The hashes of an email address and a phone number (either may be
    empty). `valid_e164` is a number already validated and in E.164 (an
    import's checked row), hashed as it is: parsing it again cost a third of
    an import's check."""
    found = []
    if email := normalised_email(email):
        found.append(digest("email", email))
    if phone := valid_e164 or normalised_phone(phone):
        found.append(digest("phone", phone))
    return found


def suppressed_since(*, email="", phone=""):
    """When the address or number was put on the suppression list, or None."""
    digests = digests_of(email=email, phone=phone)
    if not digests:
        return None
    return SuppressedContact.objects.filter(digest__in=digests).aggregate(at=Min("suppressed_at"))[
        "at"
    ]


def suppressed_digests(digests):
    """Those of `digests` on the list: {digest: suppressed_at}, one indexed lookup."""
    if not digests:
        return {}
    return dict(
        SuppressedContact.objects.filter(OneOf(F("digest"), digests)).values_list(
            "digest", "suppressed_at"
        )
    )


def objectors(customers):
    """The customers among these whose latest state on some channel is an
    objection to direct marketing or a withdrawn consent."""
    ids = [customer.pk for customer in customers]
    latest = (
        Consent.objects.filter(customer_id__in=ids).current().values_list("customer_id", "event")
    )
    refused = {
        pk
        for pk, event in latest
        if event in (Consent.Event.OBJECTION, Consent.Event.CONSENT_WITHDRAWN)
    }
    return [customer for customer in customers if customer.pk in refused]


def objector_digests(customers):
    """{customer id: [hashes]} of the objectors among `customers`."""
    return {
        customer.pk: digests_of(email=customer.email, phone=customer.phone)
        for customer in objectors(customers)
    }


def keep_digests(digests, at):
    """Put these hashes on the list, dated `at`; returns how many were new."""
    # An address already on the list keeps its first time.
    existing = set(
        SuppressedContact.objects.filter(digest__in=list(digests)).values_list("digest", flat=True)
    )
    new = [SuppressedContact(digest=value, suppressed_at=at) for value in digests - existing]
    SuppressedContact.objects.bulk_create(new)
    return len(new)


def restore_from_journal(entries):
    """After a restore of an older backup: put back the hashes that erasures
    since then kept (the erasure journal carries them, keyed as here)."""
    added = 0
    for entry in entries:
        if entry.get("suppressed"):
            at = datetime.datetime.fromisoformat(entry["erased_at"])
            added += keep_digests(set(entry["suppressed"]), at)
    return added
