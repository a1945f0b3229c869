"""The thirteenth probe, as an instructor and office staff with valid logins:
every URL with other users' and other courses' ids, the messages to
customers, the downloads' file names, the dashboard. Each finding's test
failed on main before its fix (docs/security.md, "Thirteenth probe")."""

import pytest
from django.urls import reverse

from courses import messages as outbox
from courses.models import Course, Message
from courses.services import enrollment_cancel, enrollment_create
from courses.tasks import message_deliver
from registry.forms import CustomerForm
from registry.services import customer_update

from . import smtp
from .factories import CourseFactory, CustomerFactory, CustomerImportFactory, EnrollmentFactory

smtp_server = smtp.smtp_server  # a real SMTP server (aiosmtpd) in the test process


def _staff_message(customer):
    return outbox.message_create(
        customer=customer,
        kind=Message.Kind.STAFF,
        course=CourseFactory(),
        staff_subject="Sali vaihtuu",
        text="Ensi kerralla salissa 2.",
    )


def _fail(message, smtp_server, settings):
    smtp_server.refuse = True
    for _attempt in range(settings.MESSAGE_SEND_ATTEMPTS):
        message_deliver(message.pk)
    message.refresh_from_db()
    assert message.state == Message.State.FAILED
    smtp_server.refuse = False


@pytest.mark.django_db
def test_send_again_goes_to_the_address_the_customer_has_now(smtp_server, settings, staff_member):
    """A message refused at an old address (a typo, a mailbox given up), then
    the address corrected and "send again": it went to the old address."""
    customer = CustomerFactory(email="vanha@example.invalid")
    message = _staff_message(customer)
    _fail(message, smtp_server, settings)
    customer_update(customer=customer, data={"email": "uusi@example.invalid"}, by=staff_member)
    outbox.message_resend(message=message, by=staff_member)
    message_deliver(message.pk)
    assert [to for to, _mail in smtp_server.emails()] == [["uusi@example.invalid"]]
    message.refresh_from_db()
    assert (message.state, message.to) == (Message.State.SENT, "uusi@example.invalid")


@pytest.mark.django_db
def test_a_queued_message_is_not_sent_to_an_address_removed_meanwhile(
    smtp_server, settings, staff_member
):
    """The customer asked to remove their email after the message was written
    (or between the worker's tries): it is not sent there; staff call."""
    customer = CustomerFactory(email="poistettava@example.invalid")
    message = _staff_message(customer)
    customer_update(customer=customer, data={"email": ""}, by=staff_member)
    message_deliver(message.pk)
    assert smtp_server.emails() == []
    message.refresh_from_db()
    assert (message.state, message.to) == (Message.State.NO_ADDRESS, "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "disposition"),
    [
        ("jäsenet\u202ecsv.exe", "attachment; filename*=utf-8''j%C3%A4senetcsv-hylatyt.csv"),
        ("a\u200bb\u2066c.csv", 'attachment; filename="abc-hylatyt.csv"'),
    ],
)
def test_a_downloads_file_name_holds_no_direction_marks(client, staff_member, typed, disposition):
    """An import's rejected rows are named after the uploaded file: a
    right-to-left override in its name showed the download as another kind
    of file (`...exe` read backwards); invisible characters stayed."""
    customer_import = CustomerImportFactory(file_name=typed)
    client.force_login(staff_member)
    response = client.get(reverse("registry:import-rejected", args=[customer_import.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == disposition


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address", ['"a\x0bb"@example.fi', '"a\x01b"@example.fi', '"a\x7fb"@example.fi']
)
def test_an_email_with_control_characters_is_refused_beside_the_field(address):
    """Django's validator takes control characters inside a quoted local
    part; they went to the mail server as the recipient."""
    form = CustomerForm(data={"email": address})
    form.is_valid()
    assert "email" in form.errors


@pytest.mark.django_db
def test_send_again_does_not_confirm_a_place_cancelled_since(smtp_server, settings, staff_member):
    """An enrolment's confirmation refused by the mail server, the enrolment
    cancelled, then "send again": the customer was told they had a place."""
    course = CourseFactory(capacity=5)
    customer = CustomerFactory(email="asiakas@example.invalid")
    enrollment = enrollment_create(
        customer=customer, course=course, source="office", by=staff_member
    )
    confirmation = customer.messages.get(kind=Message.Kind.ENROLLED)
    _fail(confirmation, smtp_server, settings)
    enrollment_cancel(enrollment=enrollment, by=staff_member)
    outbox.message_resend(message=confirmation, by=staff_member)
    message_deliver(confirmation.pk)
    assert smtp_server.emails() == []
    confirmation.refresh_from_db()
    assert confirmation.state == Message.State.FAILED
    assert confirmation.error == "Ei lähetetty: ilmoittautuminen on sittemmin peruttu."


@pytest.mark.django_db
def test_no_reminder_of_a_course_cancelled_meanwhile(client, smtp_server, settings, staff_member):
    course = CourseFactory()
    customer = CustomerFactory(email="asiakas@example.invalid")
    EnrollmentFactory(course=course, customer=customer)
    reminder = outbox.message_create(customer=customer, kind=Message.Kind.REMINDER, course=course)
    _fail(reminder, smtp_server, settings)
    Course.objects.filter(pk=course.pk).update(is_cancelled=True)
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:message-resend", args=[reminder.pk]),
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Not sent: the course was cancelled since." in response.content.decode()
    reminder.refresh_from_db()
    assert reminder.state == Message.State.FAILED
    message_deliver(reminder.pk)
    assert smtp_server.emails() == []


@pytest.mark.django_db
def test_send_again_does_not_say_waiting_list_to_one_who_got_a_place(
    smtp_server, settings, staff_member
):
    """ "You are on the waiting list", refused by the mail server; a place
    freed moves the customer up; then "send again" told them they were still
    waiting (left by the thirteenth probe)."""
    course = CourseFactory(capacity=1)
    first = enrollment_create(
        customer=CustomerFactory(), course=course, source="office", by=staff_member
    )
    customer = CustomerFactory(email="jonossa@example.invalid")
    enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    waiting = customer.messages.get(kind=Message.Kind.WAITLISTED)
    _fail(waiting, smtp_server, settings)
    enrollment_cancel(enrollment=first, by=staff_member)
    assert customer.enrollments.get().status == "enrolled"
    sent = len(smtp_server.emails())  # the place's news went out
    outbox.message_resend(message=waiting, by=staff_member)
    message_deliver(waiting.pk)
    assert len(smtp_server.emails()) == sent
    waiting.refresh_from_db()
    assert waiting.state == Message.State.FAILED
    assert waiting.error == "Ei lähetetty: asiakas on sittemmin saanut paikan."
