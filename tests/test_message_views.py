"""The outbox's pages (issue 20): a message from staff to a course, the
outbox with "send again", one message, the customer page, "call these"."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from courses.message_forms import CourseMessageForm
from courses.models import Message, MessageSettings
from courses.tasks import message_deliver
from registry.audit.models import AuditEvent

from . import smtp
from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, MessageFactory

smtp_server = smtp.smtp_server


@pytest.fixture
def immediate_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.mark.django_db
def test_staff_message_preview_lists_recipients_and_warns_against_marketing(client, staff_member):
    course = CourseFactory()
    # The preview greets the first by name (Aalto before Virtanen).
    participant = EnrollmentFactory(
        course=course, customer=CustomerFactory(last_name="Aalto")
    ).customer
    no_email = EnrollmentFactory(
        course=course, customer=CustomerFactory(email="", last_name="Virtanen")
    ).customer
    waiting = EnrollmentFactory(course=course, status="waitlisted").customer
    cancelled = EnrollmentFactory(course=course, status="cancelled").customer
    client.force_login(staff_member)
    url = reverse("courses:course-message", args=[course.pk])
    page = client.get(url).content.decode()
    assert "markkinointi" in page.lower()
    data = {"audience": "participants", "subject": "Sali vaihtui", "text": "Olemme salissa 2."}
    preview = client.post(url, data)
    page = preview.content.decode()
    assert participant.full_name in page
    assert no_email.full_name in page
    assert "ei sähköpostiosoitetta: soita" in page.lower()
    assert waiting.full_name not in page
    assert cancelled.full_name not in page
    assert "Olemme salissa 2." in page
    assert f"Hei {participant.first_name}," in page
    assert not Message.objects.exists()  # a preview writes nothing
    token = preview.context["form"].data["submission"]
    response = client.post(url, {**data, "submission": token, "confirm": "1"}, follow=True)
    assert set(Message.objects.values_list("customer", flat=True)) == {
        participant.pk,
        no_email.pk,
    }
    assert Message.objects.get(customer=participant).state == "queued"
    assert Message.objects.get(customer=no_email).state == "no_address"
    texts = [str(m) for m in response.context["messages"]]
    assert any("2 viestiä kirjoitettu" in t for t in texts)
    assert any(no_email.full_name in t and "soita" in t for t in texts)


@pytest.mark.django_db
def test_staff_message_form_keeps_what_was_typed_and_says_what_is_missing(client, staff_member):
    course = CourseFactory()
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:course-message", args=[course.pk]),
        {"audience": "everyone", "subject": "", "text": "Tärkeä asia"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Tärkeä asia" in page
    assert "Tämä kenttä vaaditaan" in page
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_the_waiting_list_gets_only_its_own_message(client, staff_member):
    course = CourseFactory()
    EnrollmentFactory(course=course)
    waiting = EnrollmentFactory(course=course, status="waitlisted").customer
    client.force_login(staff_member)
    client.post(
        reverse("courses:course-message", args=[course.pk]),
        {
            "audience": "waitlist",
            "subject": "Jono",
            "text": "Paikkoja voi vapautua.",
            "submission": CourseMessageForm.new_token(),
            "confirm": "1",
        },
    )
    assert list(Message.objects.values_list("customer", flat=True)) == [waiting.pk]


@pytest.mark.django_db
def test_outbox_lists_failed_and_to_call_and_sends_again(
    client, staff_member, smtp_server, django_capture_on_commit_callbacks
):
    failed = MessageFactory(state="failed", attempts=5, error="SMTPRecipientsRefused: nope")
    # A reminder is sent again only while the customer is on the course.
    EnrollmentFactory(course=failed.course, customer=failed.customer)
    to_call = MessageFactory(state="no_address", to="", customer=CustomerFactory(email=""))
    client.force_login(staff_member)
    page = client.get(reverse("courses:outbox")).content.decode()
    assert "SMTPRecipientsRefused" in page
    assert failed.customer.full_name in page
    assert to_call.customer.full_name in page
    assert "040 " in page  # the phone number to call
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_SEARCHED, detail__via="outbox"
    ).exists()
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("courses:message-resend", args=[failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.state, failed.attempts) == ("queued", 0)
    assert len(callbacks) == 1
    message_deliver(failed.pk)
    failed.refresh_from_db()
    assert failed.state == "sent"
    assert [r for r, _mail in smtp_server.emails()] == [[failed.to]]


@pytest.mark.django_db
def test_outbox_queries_do_not_grow_with_messages(
    client, staff_member, django_assert_max_num_queries
):
    client.force_login(staff_member)
    MessageFactory.create_batch(3, state="failed")
    with django_assert_max_num_queries(30) as few:
        client.get(reverse("courses:outbox"))
    MessageFactory.create_batch(20, state="failed")
    MessageFactory.create_batch(10, state="no_address")
    with django_assert_max_num_queries(len(few)):
        client.get(reverse("courses:outbox"))


@pytest.mark.django_db
def test_customer_page_and_message_page_show_the_messages(client, staff_member):
    message = MessageFactory(body="Hei,\n\nkurssi alkaa huomenna.\n")
    client.force_login(staff_member)
    page = client.get(message.customer.get_absolute_url()).content.decode()
    assert "Viestit" in page
    assert reverse("courses:message-detail", args=[message.pk]) in page
    page = client.get(reverse("courses:message-detail", args=[message.pk])).content.decode()
    assert "kurssi alkaa huomenna." in page
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        target_id=str(message.customer.pk),
        detail__via="message",
    ).exists()
    message.body, message.body_deleted_at = "", timezone.now()
    message.save()
    page = client.get(reverse("courses:message-detail", args=[message.pk])).content.decode()
    assert "Teksti poistettiin" in page


def cancel_before_one_without_email(client, staff_member, **options):
    """Staff cancel the place of a full course's participant; the first
    waiting, Kalle Puhelin, has no email: staff are told to call him."""
    course = CourseFactory(capacity=1)
    enrolled = EnrollmentFactory(course=course)
    EnrollmentFactory(
        course=course,
        status="waitlisted",
        customer=CustomerFactory(first_name="Kalle", last_name="Puhelin", email=""),
    )
    client.force_login(staff_member)
    return client.post(
        reverse("courses:enrollment-cancel", args=[course.pk, enrolled.pk]), **options
    )


@pytest.mark.django_db
def test_cancelling_tells_staff_whom_to_call(client, staff_member):
    response = cancel_before_one_without_email(client, staff_member, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("Kalle Puhelin" in t and "soita" in t for t in texts), texts


@pytest.mark.django_db
def test_whom_to_call_stays_on_the_server_not_in_a_cookie(client, staff_member):
    """The flash message holds names and phone numbers: kept in the session
    (the database), not in Django's default messages cookie, which is signed
    but readable by anyone holding the browser."""
    response = cancel_before_one_without_email(client, staff_member)
    assert response.status_code == 302
    assert "messages" not in response.cookies
    assert not any("Puhelin" in morsel.value for morsel in client.cookies.values())
    shown = client.get(response.url).content.decode()
    assert "Kalle Puhelin" in shown


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_a_participant_of_a_full_course_and_the_first_waiting_gets_the_place(
    page, live_server, log_in, staff_member, smtp_server, immediate_tasks
):
    course = CourseFactory(
        title="Äänijooga", capacity=1, starts_at=timezone.now() + timedelta(days=10)
    )
    leaving = EnrollmentFactory(
        course=course, customer=CustomerFactory(first_name="Lähtevä", last_name="Osallistuja")
    )
    first = CustomerFactory(first_name="Ensimmäinen", last_name="Jonossa")
    second = CustomerFactory(first_name="Toinen", last_name="Jonossa")
    EnrollmentFactory(course=course, customer=first, status="waitlisted")
    EnrollmentFactory(
        course=course,
        customer=second,
        status="waitlisted",
        status_changed_at=timezone.now() + timedelta(seconds=1),
    )
    log_in(page, staff_member)
    page.goto(live_server.url + course.get_absolute_url())
    page.get_by_role("row").filter(has_text="Lähtevä Osallistuja").get_by_role(
        "link", name="Peru ilmoittautuminen"
    ).click()
    page.get_by_role("button", name="Peru ilmoittautuminen").click()  # asked first
    expect(page.get_by_text("Ensimmäinen Jonossa sai paikan jonosta.")).to_be_visible()
    mails = {recipients[0]: mail for recipients, mail in smtp_server.emails()}
    assert set(mails) == {leaving.customer.email, first.email}
    assert mails[first.email]["Subject"].strip() == "Vapautunut paikka: Äänijooga"
    assert "soitathan meille" in mails[first.email].get_content()
    assert second.email not in mails
    page.goto(live_server.url + "/messages/")
    expect(page.get_by_role("heading", name="Lähtevät viestit")).to_be_visible()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"audience": "participants", "subject": "a" * 10_000, "text": "x"},
        {"audience": "participants", "subject": "x", "text": "a" * 100_000},
        {"audience": ["participants", "waitlist"], "subject": "x", "text": "x"},
        {"audience": "-1", "subject": "x\r\nBcc: kaikki@example.invalid", "text": "x"},
        {"audience": "participants", "subject": "x\x00", "text": "x\x00"},
    ],
    ids=["huge subject", "huge text", "two audiences", "header injection", "nul"],
)
def test_hostile_posts_to_the_course_message(client, staff_member, data):
    course = CourseFactory()
    EnrollmentFactory(course=course)
    client.force_login(staff_member)
    response = client.post(
        reverse("courses:course-message", args=[course.pk]), {**data, "confirm": "1"}
    )
    assert response.status_code in {200, 400}
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_a_subject_with_a_line_break_becomes_one_line(client, staff_member, smtp_server):
    course = CourseFactory()
    participant = EnrollmentFactory(course=course).customer
    client.force_login(staff_member)
    client.post(
        reverse("courses:course-message", args=[course.pk]),
        {
            "audience": "participants",
            "subject": "Sali\r\nBcc: kaikki@example.invalid",
            "text": "x",
            "submission": CourseMessageForm.new_token(),
            "confirm": "1",
        },
    )
    message = Message.objects.get()
    assert message.subject == "Sali Bcc: kaikki@example.invalid"
    message_deliver(message.pk)
    assert [r for r, _mail in smtp_server.emails()] == [[participant.email]]


@pytest.mark.django_db
def test_the_register_manager_switches_automatic_messages_in_admin(
    client, register_manager, staff_member
):
    url = reverse("admin:courses_messagesettings_change", args=[1])
    client.force_login(staff_member)
    assert client.get(url).status_code in {302, 403}
    client.force_login(register_manager)
    page = client.get(url)
    assert page.status_code == 200
    form = dict.fromkeys(
        (
            "enrolled",
            "waitlisted",
            "promoted",
            "course_cancelled",
            "session_cancelled",
            "session_moved",
            "reminder",
        ),
        "on",
    )  # enrollment_cancelled left unticked: off
    # The values the page showed ride with it (two register managers at once).
    form["seen"] = page.context["adminform"].form["seen"].value()
    assert client.post(url, form).status_code == 302
    settings_row = MessageSettings.current()
    assert not settings_row.enrollment_cancelled
    assert settings_row.enrolled


@pytest.mark.django_db
def test_message_pages_name_the_sender_and_recipient_not_a_date_range(
    client, staff_member, register_manager
):
    """ "From"/"To" of a message are a sender and a recipient ("Lähettäjä",
    "Vastaanottaja"); the audit trail's "From"/"To" are a date range."""
    message = MessageFactory()
    client.force_login(staff_member)
    page = client.get(reverse("courses:message-detail", args=[message.pk])).content.decode()
    assert "Lähettäjä" in page and "Vastaanottaja" in page
    assert "Alkaen" not in page and "Päättyen" not in page
    form = client.get(reverse("courses:course-message", args=[CourseFactory().pk]))
    assert "Vastaanottaja" in form.content.decode()
    assert "Päättyen" not in form.content.decode()
    client.force_login(register_manager)
    trail = client.get(reverse("registry:audit-trail")).content.decode()
    assert "Alkaen" in trail and "Päättyen" in trail
    assert "Vastaanottaja" not in trail


@pytest.mark.django_db
def test_a_customer_restricted_since_is_not_among_those_to_call(client, staff_member):
    """Sixth probe: a message that found no email address, and its customer's
    processing restricted since: not on "call these", no phone number."""
    customer = CustomerFactory(email="", phone="+358401234567")
    MessageFactory(state="no_address", to="", customer=customer)
    type(customer).objects.filter(pk=customer.pk).update(restricted_since=timezone.now())
    client.force_login(staff_member)
    response = client.get(reverse("courses:outbox"))
    assert response.context["to_call"] == []
    assert "040 123 4567" not in response.content.decode()
    assert "+358401234567" not in response.content.decode()


@pytest.mark.django_db
def test_the_progress_poll_leaves_the_flash_messages_for_the_next_page(client, staff_member):
    """The progress pages fetch themselves every two seconds (X-Task-Poll):
    that fetch must not take a message meant for the page the user sees
    next (sixth probe)."""
    response = cancel_before_one_without_email(client, staff_member)
    flash = "soita tälle asiakkaalle: Kalle Puhelin"
    polled = client.get(response.url, HTTP_X_TASK_POLL="1").content.decode()
    assert flash not in polled
    shown = client.get(response.url).content.decode()
    assert flash in shown
