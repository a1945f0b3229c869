"""What the second walk through the user journeys (JOURNEYS.md) found in the
way of their users, each pinned: the customer's requests on their page, the
days a closed request took, the duplicate's edit link that keeps what was
typed, and demo data without activity in the future."""

import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry.models import Customer

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.localdate() - datetime.timedelta(days=days)


# --- 4. seed_demo: no activity in the future ------------------------------------


def test_seed_demo_dates_no_activity_after_now():
    call_command(
        "seed_demo", "--customers", "400", "--courses", "2", "--enrollments", "10", "--seed", "1"
    )
    now = timezone.now()
    assert not Customer.objects.filter(last_activity_at__gt=now).exists()
    assert not Customer.objects.filter(created_at__gt=now).exists()
