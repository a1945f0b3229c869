"""Repairs of what older versions of the register wrote wrong
(`manage.py repair_register`, run once after an upgrade).

Like erasure handlers (registry.erasure), each data owner registers its own
repair: a name (a code, for the run's audit event), a label (for the health
page and the command), `due()`, which counts what is still to repair, and
the repair itself, `repair(now)`, which repairs it, audited, and returns how
many it repaired. A repair finds only what is still wrong, so a second run
finds nothing and changes nothing. The courses register theirs too, so the
register's command and health page run and count them without importing
the courses.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Repair:
    name: str
    label: str
    due: Callable[[], int]
    repair: Callable


_repairs = {}


def register_repair(name, *, label, due):
    """Register `repair(now)` as the repair `name`, with what counts it due."""

    def register(repair):
        _repairs[name] = Repair(name=name, label=label, due=due, repair=repair)
        return repair

    return register


def registered_repairs():
    """Every registered repair, in the order they were registered."""
    return list(_repairs.values())
