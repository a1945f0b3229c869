"""What happens to the records attached to a customer when two are merged.

Every model that points at Customer registers a handler for its relation here
(courses registers its own from its AppConfig.ready, since courses may import
registry but not the reverse). A merge refuses to run while any relation of
Customer has no handler, so a new model cannot silently lose its rows.
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
