"""What the erasure of a customer does to each kind of data that may hold them.

Like merges (registry.merge), every data owner registers how its data is
removed or scrubbed when a customer is erased (pretix calls them shredders):
every model that points at Customer must have a handler, or the erasure
refuses to run, so a new model holding personal data cannot be forgotten.
Models with typed text that may name the person without pointing at them
(the audit trail, imported file names, login records) register one too.

The erasure itself (registry.rights.erasure) runs the handlers in one
transaction, before the customer rows are deleted.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db.models import F

#: What takes the place of a personal value that was scrubbed out.
ERASED = "[poistettu]"


@dataclass(frozen=True)
class Erasure:
    """What a handler gets: the customers being erased (locked, still in the
    database), their ids with those of records merged into them, `scrub`,
    which returns a text, list or dict with every personal value of theirs
    replaced by ERASED, the moment of the erasure, and who erased them in
    which request (for the audit events of what a handler changes in their
    wake, such as a place on a course given to the next in line).

    A handler that rewrites a row not about these customers (someone else's
    audit event or note that named them) calls `rewrote(model_label)`: the
    erasure's audit event then says how many rows of each kind it rewrote,
    so no changed record goes unexplained. Files are counted by what they
    are (`mail_files`).

    `scrub_full_name` is the narrower scrub for texts about many people (a
    course's title or place): only the full name (either order, the last
    name or the first inflected), the email and the phone number, where
    `scrub` also takes each part of the name from where a word starts and
    the street address, which in a course's texts would hit other words
    ("Satujooga" for Satu, "Pilates, Lahti" for Lahti). By default the same
    as `scrub`.

    `computed(compute)` gives what several handlers read of the erased,
    computed once per erasure."""

    customers: list
    customer_ids: set
    scrub: Callable
    at: datetime
    by: object = None
    request: object = None
    rewritten: Counter = field(default_factory=Counter)
    scrub_full_name: Callable = None
    _computed: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.scrub_full_name is None:
            object.__setattr__(self, "scrub_full_name", self.scrub)

    def computed(self, compute):
        """`compute(self)`, computed once per erasure: for what several
        handlers read of the erased (courses' handlers: the courses that were
        theirs alone), so that it is read once, and the same for each."""
        if compute not in self._computed:
            self._computed[compute] = compute(self)
        return self._computed[compute]

    def rewrote(self, model_label, count=1):
        if count:
            self.rewritten[model_label] += count

    def scrub_rows(self, rows, fields, *, versioned=False, scrub=None):
        """Scrub `fields` of every row of the queryset `rows` (texts, or JSON
        lists and dicts), a chunk at a time. A row that named the erased is
        updated and counted as rewritten: each text cut to its column's
        length, since ERASED may be longer than the short name it replaces
        (a full column would refuse it, and the erasure with it); its
        version raised when `versioned`, so that a form opened before the
        erasure cannot write the values back. `scrub`: `self.scrub` unless
        given (`self.scrub_full_name` for texts about many people)."""
        scrub = scrub or self.scrub
        model = rows.model
        limits = {name: model._meta.get_field(name).max_length for name in fields}
        for row in rows.only("pk", *fields).order_by("pk").iterator(chunk_size=2000):
            changed = {}
            for name, limit in limits.items():
                value = getattr(row, name)
                if value is None:
                    continue
                scrubbed = scrub(value)
                if scrubbed != value:
                    changed[name] = scrubbed[:limit] if limit else scrubbed
            if changed:
                if versioned:
                    changed["version"] = F("version") + 1
                model.objects.filter(pk=row.pk).update(**changed)
                self.rewrote(model._meta.label_lower)


_handlers = {}


def erasure_handler(model_label):
    """Register `handler(erasure)` for the model `app_label.model_name`."""

    def register(handler):
        _handlers[model_label] = handler
        return handler

    return register


def erasure_handlers(customer_model):
    """Every registered handler; refuses while a relation of Customer has none."""
    relations = {
        rel.related_model._meta.label_lower for rel in customer_model._meta.related_objects
    }
    missing = sorted(relations - set(_handlers))
    if missing:
        raise ImproperlyConfigured(
            f"Customer erasure has no handler for {', '.join(missing)}; "
            "register one with registry.erasure.erasure_handler."
        )
    return dict(_handlers)
