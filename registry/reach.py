"""How many customers a marketing channel may reach, counted once per change.

The marketing page counts who may be reached by a channel (in one city, if
asked): an exact count over the customers and the consent ledger, which grows
with the register (about 0.2 s at 200,000 customers and 0.8 s at a million,
docs/benchmarks.md). The counts are kept in the shared cache (the database's
cache table, so every instance sees the same) under a *generation*: a random
token, replaced whenever a transaction that may change who can be reached
commits. `reach_changed()` says so. Customer.save() and delete() and
Consent.save() call it, as they derive the search text: no write path of a
single record can forget it (the services, the erasure through
Customer.delete(), the merge, the admin, the shell). The bulk writers that
bypass save() call it themselves: the import's writing, its undo, the
unsubscribes brought back, seed_demo; a restored backup starts a new
generation.

The counts of one channel are one row of the cache: (generation, {city:
(count, moment)}), the last KEPT_PER_ROW cities counted. A row of an older
generation is not used, and is overwritten by the next count (rows do not
pile up to push other keys out of the cache's MAX_ENTRIES).

A count is kept with the generation read *before* counting: a change
committed while the count runs replaces that generation after its commit, so
the count is never found under a generation newer than the data it saw. A
count taken inside a transaction could see that transaction's own uncommitted
writes: it is neither read from nor kept in the cache. Kept counts expire
after KEEP_SECONDS, a backstop for a change whose after-commit step never ran
(the process ended between the commit and it).
"""

import hashlib
import secrets

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

GENERATION_KEY = "registry:reach:generation"
KEEP_SECONDS = 15 * 60
KEPT_PER_ROW = 100


def reach_changed(using=None):
    """Who may be reached may change in the current transaction: forget the
    kept counts when it commits (at once outside a transaction). Registered
    once per transaction: a later call inside the same savepoints adds
    nothing (a rollback that drops the first would drop the later change
    too)."""
    connection = transaction.get_connection(using)
    # Savepoints nest: a registration still waiting was made in this block or
    # an enclosing one, so any rollback that drops it drops this change too.
    if connection.in_atomic_block and any(
        entry[1] is new_generation for entry in connection.run_on_commit
    ):
        return
    transaction.on_commit(new_generation, using=using, robust=True)


def new_generation():
    cache.set(GENERATION_KEY, secrets.token_hex(16), None)


def _generation():
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        # First use, or the cache table culled it: a new one orphans every
        # kept count, which is safe.
        cache.add(GENERATION_KEY, secrets.token_hex(16), None)
        generation = cache.get(GENERATION_KEY)
    return generation


def reach_count(queryset, *, group, key=""):
    """(count of `queryset`, when it was counted, whether it was kept), from
    the cache when the register has not changed since. `group` names the
    cache row (a channel) and `key` the filters within it (a city); the
    row keeps the KEPT_PER_ROW filters counted last, so that typing many
    cities cannot fill the cache. Any typed value may be in either: they
    are hashed."""
    if transaction.get_connection(queryset.db).in_atomic_block:
        return queryset.count(), timezone.now(), False
    cache_key = f"registry:reach:{_digest(group)}"
    # The generation and the row in one read of the cache table.
    both = cache.get_many([GENERATION_KEY, cache_key])
    generation = both.get(GENERATION_KEY) or _generation()
    found = both.get(cache_key)
    counts = found[1] if found is not None and found[0] == generation else {}
    digest = _digest(key)
    if digest in counts:
        count, moment = counts[digest]
        return count, moment, True
    count, moment = queryset.count(), timezone.now()
    counts = {**counts, digest: (count, moment)}
    while len(counts) > KEPT_PER_ROW:
        del counts[next(iter(counts))]  # the oldest: dicts keep their order
    cache.set(cache_key, (generation, counts), KEEP_SECONDS)
    return count, moment, True


def _digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
