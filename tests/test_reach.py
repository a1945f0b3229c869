"""The marketing page's counts, kept in the shared cache until the register
changes (registry.reach). Transactional tests: the counts are kept only
outside a transaction, and forgotten when a change commits."""

import datetime

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.imports.services import import_apply, import_undo
from registry.imports.unsubscribes import unsubscribes_apply, unsubscribes_upload
from registry.models import Consent, Customer
from registry.reach import KEPT_PER_ROW, new_generation, reach_count
from registry.rights.erasure import customer_erase
from registry.services import (
    consent_record,
    customer_create,
    customer_merge,
    customer_update,
    marketing_list,
)

from .factories import ConsentFactory, CourseFactory, CustomerFactory, EnrollmentFactory
from .test_imports import person, upload

pytestmark = pytest.mark.django_db(transaction=True)

CHANNELS = ("email", "post")


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


@pytest.fixture
def consenting(staff_member):
    """Three customers with an address and an email consent."""
    people = CustomerFactory.create_batch(3, street_address="Kauppakatu 1", postal_code="80100")
    for customer in people:
        ConsentFactory(customer=customer, recorded_by=staff_member)
    return people


def shown_counts(client):
    url = reverse("registry:marketing-list")
    return tuple(client.get(url, {"channel": channel}).context["count"] for channel in CHANNELS)


def true_counts():
    return tuple(marketing_list(channel=channel).count() for channel in CHANNELS)


def test_a_count_is_kept_until_the_register_changes(client, register_manager, consenting):
    client.force_login(register_manager)
    url = reverse("registry:marketing-list")
    first = client.get(url, {"channel": "email"})
    assert first.context["count"] == 3
    assert first.context["counted_at"] is not None and first.context["kept"]
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url, {"channel": "email"})
    assert again.context["count"] == 3
    assert again.context["counted_at"] == first.context["counted_at"]
    assert not [q for q in queries if "registry_consent" in q["sql"]], "counted again"
    # Each city (as typed: the database decides the letter case) is its own count.
    assert client.get(url, {"channel": "post", "city": "Nowhere\u202e"}).context["count"] == 0


def _create(consenting, staff_member, register_manager):
    customer_create(
        data={
            "first_name": "Uusi",
            "last_name": "Asiakas",
            "street_address": "Torikatu 2",
            "postal_code": "80100",
            "city": "Joensuu",
            "source": Customer.Source.INFORMATION_REQUEST,
        },
        by=staff_member,
    )


def _update(consenting, staff_member, register_manager):
    customer_update(customer=consenting[0], data={"email": ""}, by=staff_member)


def _withdraw(consenting, staff_member, register_manager):
    consent_record(
        customer=consenting[0],
        channel=Consent.Channel.EMAIL,
        event=Consent.Event.CONSENT_WITHDRAWN,
        method=Consent.Method.PHONE,
        by=staff_member,
    )


def _erase(consenting, staff_member, register_manager):
    customer_erase(customer=consenting[0], by=register_manager)


def _merge(consenting, staff_member, register_manager):
    keep, remove = consenting[0], consenting[1]
    values = {field: getattr(keep, field) for field in ("first_name", "last_name", "email")}
    customer_merge(keep=keep, remove=remove, values=values, by=staff_member)


def _import(consenting, staff_member, register_manager):
    import_apply(customer_import=upload([person()], staff_member), by=staff_member)


def _unsubscribe(consenting, staff_member, register_manager):
    content = f"Email\n{consenting[0].email}\n".encode()
    upload_ = unsubscribes_upload(file_name="pois.csv", content=content, by=register_manager)
    unsubscribes_apply(upload=upload_, by=register_manager)


@pytest.mark.parametrize(
    "change", [_create, _update, _withdraw, _erase, _merge, _import, _unsubscribe]
)
def test_every_write_path_makes_the_counts_count_again(
    client, register_manager, staff_member, consenting, change
):
    client.force_login(register_manager)
    before = shown_counts(client)
    assert before == true_counts() == (3, 3)
    change(consenting, staff_member, register_manager)
    assert true_counts() != before, "the change should change a count"
    assert shown_counts(client) == true_counts()


def test_the_undo_of_an_import_makes_the_counts_count_again(
    client, register_manager, staff_member
):
    done = import_apply(customer_import=upload([person()], staff_member), by=staff_member)
    client.force_login(register_manager)
    assert shown_counts(client) == (0, 1)
    import_undo(customer_import=done, by=staff_member)
    assert shown_counts(client) == true_counts() == (0, 0)


def test_a_change_committed_while_counting_is_counted_next_time(staff_member, consenting):
    class ChangedWhileCounted:
        """The email list, and a withdrawal committed by someone else just
        after the count has read the ledger."""

        db = "default"

        def count(self):
            counted = marketing_list(channel="email").count()
            _withdraw(consenting, staff_member, None)
            return counted

    assert reach_count(ChangedWhileCounted(), group="email")[0] == 3
    assert reach_count(marketing_list(channel="email"), group="email")[0] == 2


def _customer_unannounced():
    """A customer with a postal address, written without the models' save():
    nothing tells registry.reach."""
    Customer.objects.bulk_create(
        [
            Customer(
                first_name="Kesken",
                last_name="Oleva",
                street_address="Torikatu 2",
                postal_code="80100",
                city="Joensuu",
                source=Customer.Source.INFORMATION_REQUEST,
            )
        ]
    )


def test_a_count_inside_a_transaction_is_not_kept(settings):
    """It might have seen the transaction's own writes. (A cache outside the
    database's transactions: with the database's cache table, the rollback
    would take the row back too.)"""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with transaction.atomic():
        _customer_unannounced()
        inside = reach_count(marketing_list(channel="post"), group="post")
        transaction.set_rollback(True)
    assert inside[:1] == (1,) and inside[2] is False
    assert reach_count(marketing_list(channel="post"), group="post")[0] == 0


def test_a_count_inside_a_transaction_does_not_touch_the_cache():
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        reach_count(marketing_list(channel="post"), group="post")
    assert not [q for q in queries if "balansia_cache" in q["sql"]]


def test_a_change_after_a_rolled_back_one_is_counted(
    client, register_manager, staff_member, consenting
):
    client.force_login(register_manager)
    assert shown_counts(client) == (3, 3)
    with transaction.atomic():
        try:
            with transaction.atomic():
                _withdraw(consenting, staff_member, None)  # registered, rolled back
                raise RuntimeError
        except RuntimeError:
            pass
        _update(consenting[1:], staff_member, None)  # must register again
    assert shown_counts(client) == true_counts() == (2, 3)


def test_many_changes_in_one_transaction_ask_once(staff_member, consenting):
    with transaction.atomic():
        for customer in consenting:
            customer_update(customer=customer, data={"city": "Kuopio"}, by=staff_member)
        waiting = [entry for entry in connection.run_on_commit if entry[1] is new_generation]
    assert len(waiting) == 1


def test_the_page_says_when_it_counted(client, register_manager, consenting):
    client.force_login(register_manager)
    response = client.get(reverse("registry:marketing-list"), {"channel": "email"})
    moment = response.context["counted_at"]
    assert (
        datetime.timedelta(0)
        <= datetime.datetime.now(datetime.UTC) - moment
        < (datetime.timedelta(minutes=1))
    )
    assert "Laskettu klo" in response.content.decode()


def test_a_courses_list_is_counted_afresh_and_says_nothing_of_keeping(
    client, register_manager, consenting
):
    course = CourseFactory()
    EnrollmentFactory(customer=consenting[0], course=course)
    client.force_login(register_manager)
    url = reverse("registry:marketing-list")
    response = client.get(url, {"channel": "email", "course": course.pk})
    assert (response.context["count"], response.context["kept"]) == (1, False)
    assert "Laskettu klo" not in response.content.decode()


def test_typing_many_cities_does_not_fill_the_cache(staff_member):
    """The counts of a channel are one row: 150 cities typed leave the
    generation and that row, with the last KEPT_PER_ROW cities in it."""
    for number in range(KEPT_PER_ROW + 50):
        city = f"Kaupunki {number}"
        reach_count(marketing_list(channel="post", city=city), group="post", key=city)
    with connection.cursor() as cursor:
        cursor.execute("SELECT cache_key FROM balansia_cache")
        keys = [key for (key,) in cursor.fetchall()]
    assert len([key for key in keys if "registry:reach" in key]) == 2
    with CaptureQueriesContext(connection) as queries:
        newest = reach_count(marketing_list(channel="post"), group="post", key="Kaupunki 149")
    assert newest[2] and not [q for q in queries if "registry_customer" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        reach_count(
            marketing_list(channel="post", city="Kaupunki 0"), group="post", key="Kaupunki 0"
        )
    assert [q for q in queries if "registry_customer" in q["sql"]], "the oldest was kept"
