"""The consents report only reads: on SQLite it must not take the write lock
(the settings begin every transaction IMMEDIATE), or every save in the
register would wait for the report. (That a save may also commit while the
report's statement is reading is SQLite's write-ahead log:
test_settings.py.)"""

import threading
from contextlib import contextmanager
from datetime import date

import pytest
from django.db import connection

from registry.models import Customer
from registry.reports.selectors import consents_report
from registry.reports.tables import Period

from .factories import CustomerFactory


@contextmanager
def written_from_elsewhere_during(fragment, written):
    """Just before the statement containing `fragment` runs (whatever
    transaction the report has begun for it is open), another thread on its
    own connection adds a customer; what it met is appended to `written`."""

    def write():
        try:
            CustomerFactory(first_name="Kirjoittaja")
            written.append("saved")
        except Exception as error:
            written.append(repr(error))
        finally:
            connection.close()

    def wrapper(execute, sql, params, many, context):
        if fragment in sql:
            thread = threading.Thread(target=write)
            thread.start()
            thread.join()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


@pytest.mark.django_db(transaction=True)
def test_the_consents_report_holds_no_write_lock_when_it_reads():
    written = []
    with written_from_elsewhere_during("stretches", written):
        consents_report(Period(first=date(2025, 1, 1), last=date(2025, 3, 1)))
    assert written == ["saved"]
    assert Customer.objects.filter(first_name="Kirjoittaja").exists()
