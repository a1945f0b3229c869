"""manage.py seed_demo: fictional data that passes the register's own rules."""

import pytest
from django.core.management import CommandError, call_command

from courses.models import Enrollment
from registry.forms import CustomerForm
from registry.models import Consent, Customer
from registry.services import CUSTOMER_FIELDS

pytestmark = pytest.mark.django_db


def test_seed_makes_valid_finnish_customers_courses_and_enrolments(capsys):
    call_command(
        "seed_demo", "--customers", "300", "--courses", "6", "--enrollments", "900", "--seed", "3"
    )
    assert Customer.objects.count() == 300
    assert Enrollment.objects.count() == 900
    assert Consent.objects.exists()
    for customer in Customer.objects.all()[:50]:
        data = {field: getattr(customer, field) for field in CUSTOMER_FIELDS}
        data.update(phone=str(customer.phone), version=customer.version)
        form = CustomerForm(data=data, instance=customer)
        assert form.is_valid(), (customer.pk, form.errors)
    assert Customer.objects.search(Customer.objects.first().last_name).exists()
    assert "Done in" in capsys.readouterr().out


def test_seed_refuses_a_register_that_holds_customers_unless_appending():
    call_command("seed_demo", "--customers", "10", "--courses", "1", "--enrollments", "5")
    with pytest.raises(CommandError, match="already holds customers"):
        call_command("seed_demo", "--customers", "10", "--courses", "1", "--enrollments", "5")
    call_command(
        "seed_demo",
        "--customers",
        "10",
        "--courses",
        "1",
        "--enrollments",
        "5",
        "--append",
        "--seed",
        "2",
    )
    assert Customer.objects.count() == 20
