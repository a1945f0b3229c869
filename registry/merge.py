"""What happens to the records attached to a customer when two are merged.

Every model that points at Customer registers a handler for its relation here
(courses registers its own from its AppConfig.ready, since courses may import
registry but not the reverse). A merge refuses to run while any relation of
Customer has no handler, so a new model cannot silently lose its rows.

A concern that records something of the merge itself registers a listener
(`merge_listener`), which the merge calls when it is done: the core's merge
(registry.services.customer_merge) imports none of the concerns.
"""

from django.core.exceptions import ImproperlyConfigured

_handlers = {}


def merge_handler(model_label):
    """Register `handler(*, keep, remove)` for the model `app_label.model_name`."""

    def register(handler):
        _handlers[model_label] = handler
        return handler

    return register


def handlers_for(customer_model):
    relations = [
        rel.related_model._meta.label_lower for rel in customer_model._meta.related_objects
    ]
    missing = [label for label in relations if label not in _handlers]
    if missing:
        raise ImproperlyConfigured(
            f"Customer merge has no handler for {', '.join(missing)}; "
            "register one with registry.merge.merge_handler."
        )
    return [_handlers[label] for label in relations]


_listeners = []


def merge_listener(listener):
    """Register `listener(*, keep, changes)`, called by every merge once it is
    done (the kept record saved, the other deleted, the merge audited) and
    inside its transaction: what the listener writes (a journal entry made
    durable before the commit) is committed with the merge, and if it fails
    the merge is undone. `changes` are the kept record's changed fields, as
    the merge's audit event names them."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def merge_announce(*, keep, changes):
    """Tell the registered listeners (`merge_listener`) of a merge into `keep`."""
    for listener in _listeners:
        listener(keep=keep, changes=changes)
