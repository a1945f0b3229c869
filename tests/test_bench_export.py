"""bench_export: the benchmark of the whole-register export (make bench)."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_without_a_superuser_it_says_what_to_do(staff_member):
    with pytest.raises(CommandError, match="createsuperuser"):
        call_command("bench_export", "--format", "csv")
