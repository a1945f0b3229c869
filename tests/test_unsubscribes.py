"""Unsubscribes, complaints and hard bounces back from the newsletter service
(issue 21): recognised, previewed, applied to the ledger, audited."""

import datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils.translation import override

from registry.audit.models import AuditEvent
from registry.imports.models import UnsubscribeImport
from registry.imports.reading import ImportFileError, read_table
from registry.imports.unsubscribes import (
    Kind,
    Outcome,
    UnsubscribeStateError,
    analyse,
    kind_of,
    unsubscribes_apply,
    unsubscribes_upload,
)
from registry.models import Consent, Customer, MarketingChannel
from registry.services import marketing_list, marketing_list_export

from .factories import ConsentFactory, CustomerFactory

FIXTURES = Path(__file__).parent / "fixtures" / "unsubscribes"
SERVICES = [
    "mailchimp_unsubscribed.csv",
    "brevo_blocklisted.csv",
    "mailerlite_unsubscribed.csv",
    "mailjet_exclusions.csv",
    "plain_list.txt",
]


@pytest.fixture
def subscribers(db):
    """Three customers on the email list; Liisa's address has a typo."""
    people = {
        "aino": CustomerFactory(email="aino.virtanen@example.invalid"),
        "eero": CustomerFactory(email="Eero.Korhonen@example.invalid"),
        "liisa": CustomerFactory(email="liisa.makinen@exmaple.invalid"),
        "other": CustomerFactory(email="pysyy.listalla@example.invalid"),
    }
    for customer in people.values():
        ConsentFactory(
            customer=customer,
            occurred_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
        )
    return people


def on_email_list():
    return set(marketing_list(channel=MarketingChannel.EMAIL).values_list("pk", flat=True))


def table_of(name):
    return read_table((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("name", SERVICES)
def test_each_services_export_is_recognised_and_applied(subscribers, register_manager, name):
    content = (FIXTURES / name).read_bytes()
    upload = unsubscribes_upload(file_name=name, content=content, by=register_manager)
    upload, analysis = unsubscribes_apply(upload=upload, by=register_manager)
    withdrawn = {pk for entry in analysis.of(Outcome.WITHDRAW) for pk in entry.withdraw_ids}
    assert withdrawn == {subscribers["aino"].pk, subscribers["eero"].pk}
    # The next marketing export no longer lists those people.
    assert on_email_list() == {subscribers["liisa"].pk, subscribers["other"].pk}
    latest = Consent.objects.filter(customer=subscribers["aino"]).order_by("-id").first()
    assert latest.event == Consent.Event.CONSENT_WITHDRAWN
    assert latest.method == Consent.Method.NEWSLETTER_SERVICE
    assert upload.status == UnsubscribeImport.Status.APPLIED and upload.content is None


def test_the_time_comes_from_the_file_and_a_complaint_is_marked(subscribers, register_manager):
    analysis = analyse(table_of("mailchimp_unsubscribed.csv"))
    aino, eero, stranger = analysis.entries
    assert aino.at == datetime.datetime(2026, 3, 5, 12, 34, 56, tzinfo=datetime.UTC)
    assert (aino.kind, eero.kind) == (Kind.UNSUBSCRIBE, Kind.COMPLAINT)
    assert stranger.outcome == Outcome.NOT_FOUND
    content = (FIXTURES / "mailchimp_unsubscribed.csv").read_bytes()
    upload = unsubscribes_upload(file_name="x.csv", content=content, by=register_manager)
    unsubscribes_apply(upload=upload, by=register_manager)
    events = Consent.objects.filter(method=Consent.Method.NEWSLETTER_SERVICE)
    assert {(e.customer_id, e.complaint) for e in events} == {
        (subscribers["aino"].pk, False),
        (subscribers["eero"].pk, True),
    }
    assert events.get(customer=subscribers["aino"]).occurred_at == aino.at


def test_a_complaint_is_not_an_objection_to_post_or_phone(subscribers, register_manager):
    content = (FIXTURES / "mailjet_exclusions.csv").read_bytes()
    upload = unsubscribes_upload(file_name="x.csv", content=content, by=register_manager)
    unsubscribes_apply(upload=upload, by=register_manager)
    eero = subscribers["eero"]
    assert not Consent.objects.filter(customer=eero, channel="direct_marketing").exists()
    assert Customer.objects.contactable_by(MarketingChannel.PHONE).filter(pk=eero.pk).exists()


@pytest.mark.parametrize(
    "name", ["mailchimp_cleaned.csv", "brevo_blocklisted.csv", "mailjet_exclusions.csv"]
)
def test_hard_bounces_are_listed_not_stored(subscribers, register_manager, name):
    analysis = analyse(table_of(name))
    bounces = analysis.of(Outcome.BOUNCE)
    assert [pk for entry in bounces for pk, _name in entry.customers] == [subscribers["liisa"].pk]
    upload = unsubscribes_upload(
        file_name=name, content=(FIXTURES / name).read_bytes(), by=register_manager
    )
    unsubscribes_apply(upload=upload, by=register_manager)
    assert subscribers["liisa"].pk in on_email_list()
    assert not Consent.objects.filter(customer=subscribers["liisa"], event="withdrawn").exists()


def test_a_soft_bounce_is_nothing_to_do(subscribers):
    CustomerFactory(email="pentti.soft@example.invalid")
    analysis = analyse(table_of("mailjet_exclusions.csv"))
    assert [entry.email for entry in analysis.of(Outcome.IGNORED)] == [
        "pentti.soft@example.invalid"
    ]


def test_preview_lists_unreadable_rows_and_addresses_not_in_the_register(db):
    table = read_table(
        b"Email,Status\nnot an address,unsub\n,unsub\nsomebody@example.invalid,unsub\n"
    )
    analysis = analyse(table)
    assert [number for number, _text in analysis.unreadable] == [2, 3]
    assert analysis.counts[Outcome.NOT_FOUND] == 1


def test_already_withdrawn_gets_no_second_event(subscribers, register_manager):
    ConsentFactory(customer=subscribers["aino"], event="withdrawn", text=None)
    analysis = analyse(table_of("plain_list.txt"))
    assert [e.outcome for e in analysis.entries] == [Outcome.ALREADY, Outcome.WITHDRAW]


def test_every_customer_with_the_address_is_withdrawn(subscribers, register_manager):
    twin = CustomerFactory(email="AINO.VIRTANEN@example.invalid")
    ConsentFactory(customer=twin)
    analysis = analyse(table_of("plain_list.txt"))
    assert set(analysis.entries[0].withdraw_ids) == {subscribers["aino"].pk, twin.pk}


def test_subscribed_export_of_mailchimp_is_refused(db):
    content = (
        b'"Email Address","First Name",MEMBER_RATING,OPTIN_TIME\n'
        b"a@example.invalid,A,2,2024-01-01 00:00:00\n"
    )
    with override("en"), pytest.raises(ImportFileError, match="subscribed contacts"):
        analyse(read_table(content))


def test_a_file_without_addresses_is_refused(db, register_manager):
    with override("en"), pytest.raises(ImportFileError, match="email addresses"):
        unsubscribes_upload(
            file_name="x.csv", content=b"Name,City\nAino,Joensuu\n", by=register_manager
        )


def test_apply_is_audited_with_file_and_counts(subscribers, register_manager):
    content = (FIXTURES / "brevo_blocklisted.csv").read_bytes()
    upload = unsubscribes_upload(file_name="brevo.csv", content=content, by=register_manager)
    unsubscribes_apply(upload=upload, by=register_manager)
    event = AuditEvent.objects.get(action=AuditEvent.Action.UNSUBSCRIBES_IMPORTED)
    assert event.detail["file"] == "brevo.csv"
    assert event.detail[Outcome.WITHDRAW] == 2
    assert event.detail[Outcome.BOUNCE] == 1
    assert event.detail["complaints"] == 1
    per_customer = AuditEvent.objects.filter(
        action=AuditEvent.Action.CONSENT_RECORDED, detail__unsubscribe_import=upload.pk
    )
    assert {e.target_id for e in per_customer} == {
        str(subscribers["aino"].pk),
        str(subscribers["eero"].pk),
    }
    # Each with the role of who applied it, as it was then (the access report).
    assert {e.actor_role for e in [event, *per_customer]} == {"register_manager"}
    withdrawals = Consent.objects.filter(method=Consent.Method.NEWSLETTER_SERVICE)
    assert {c.recorded_by_role for c in withdrawals} == {"register_manager"}
    with pytest.raises(UnsubscribeStateError):
        unsubscribes_apply(upload=upload, by=register_manager)


@pytest.mark.parametrize(
    "content",
    [
        b"Email\n\x00\x00\x00\n",
        "Sähköposti\naino@example.invalid\n".encode("utf-16"),
        "Sähköposti;Tila\nääkkönen@example.invalid;peruttu\n".encode("cp1252"),
        b"Email\n" + b"x" * 5000 + b"@example.invalid\n",
        b"Email,UNSUB_TIME\na@example.invalid," + b"9" * 500 + b"\n",
        b"Email,UNSUB_TIME\na@example.invalid,2026-13-45 99:99\n",
    ],
)
def test_hostile_files_give_a_message_or_a_preview(db, register_manager, content):
    try:
        analysis = analyse(read_table(content))
    except ImportFileError:
        return
    assert analysis.counts is not None


@pytest.mark.usefixtures("immediate_tasks")
def test_the_pages_preview_then_apply(client, subscribers, register_manager):
    client.force_login(register_manager)
    with (FIXTURES / "mailerlite_unsubscribed.csv").open("rb") as upload:
        response = client.post(reverse("registry:unsubscribe-upload"), {"file": upload})
    upload = UnsubscribeImport.objects.get()
    assert response.url == upload.get_absolute_url()
    page = client.get(upload.get_absolute_url())
    assert page["Cache-Control"].startswith("no-store") or "no-store" in page["Cache-Control"]
    text = page.content.decode()
    assert subscribers["aino"].full_name in text and subscribers["liisa"].full_name in text
    read = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    assert (read.detail["via"], read.detail["rows"]) == ("unsubscribes", 3)
    # Each customer named on the page is linked to the read (test_list_reads).
    entries = [item for section in page.context["sections"] for item in section["items"]]
    named = {pk for entry in entries for pk, _name in entry["customers"]}
    assert len(named) == 3
    assert set(read.shown_customers.values_list("customer_id", flat=True)) == named
    assert on_email_list() >= {subscribers["aino"].pk, subscribers["eero"].pk}
    response = client.post(upload.get_absolute_url(), {"confirm": "1"}, REMOTE_ADDR="192.0.2.7")
    assert response.status_code == 302
    assert on_email_list() == {subscribers["liisa"].pk, subscribers["other"].pk}
    upload.refresh_from_db()
    assert upload.status == "applied" and upload.task_state == "done"
    assert upload.content is None and upload.preview == {}
    # Done in the worker on the request's behalf: its user and address.
    event = AuditEvent.objects.get(action=AuditEvent.Action.UNSUBSCRIBES_IMPORTED)
    assert (event.actor, event.ip_address) == (register_manager, "192.0.2.7")
    assert set(
        AuditEvent.objects.filter(
            action=AuditEvent.Action.CONSENT_RECORDED, detail__unsubscribe_import=upload.pk
        ).values_list("ip_address", flat=True)
    ) == {"192.0.2.7"}
    # A marketing export after it leaves them out.
    _columns, count, _rows = marketing_list_export(
        channel=MarketingChannel.EMAIL, purpose="Uutiskirje", by=register_manager
    )
    assert count == 2


@pytest.mark.usefixtures("immediate_tasks")
def test_the_preview_page_shows_unreadable_rows_beside_the_withdrawals(
    client, subscribers, register_manager
):
    """Fourth probe: one unreadable address made the preview page answer 500,
    so nobody on the file could be withdrawn."""
    client.force_login(register_manager)
    content = f"Email\n{subscribers['aino'].email}\nnot-an-email\n".encode()
    client.post(
        reverse("registry:unsubscribe-upload"),
        {"file": SimpleUploadedFile("unsubscribed.csv", content, content_type="text/csv")},
    )
    upload = UnsubscribeImport.objects.get()
    page = client.get(upload.get_absolute_url())
    assert page.status_code == 200
    text = page.content.decode()
    assert "not-an-email" in text and subscribers["aino"].full_name in text
    read = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    assert read.detail["rows"] == 1
    assert client.post(upload.get_absolute_url(), {"confirm": "1"}).status_code == 302
    assert subscribers["aino"].pk not in on_email_list()


def test_the_upload_page_shows_what_is_wrong_with_a_file(client, register_manager):
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:unsubscribe-upload"),
        {"file": _named(b"Name\nAino\n", "x.csv")},
    )
    assert response.status_code == 200
    assert "email addresses" in response.content.decode() or "sähköposti" in (
        response.content.decode()
    )
    assert not UnsubscribeImport.objects.exists()


def test_cancel_discards_the_file(client, register_manager, world):
    client.force_login(register_manager)
    upload = world["unsubscribe_import"]
    client.post(upload.get_absolute_url(), {"cancel": "1"})
    upload.refresh_from_db()
    assert upload.status == UnsubscribeImport.Status.CANCELLED and upload.content is None


def _named(content, name):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_command_dry_run_then_apply(subscribers, register_manager, staff_member, capsys):
    path = FIXTURES / "mailchimp_unsubscribed.csv"
    user = register_manager.username
    call_command("import_unsubscribes", str(path), "--user", user, "--dry-run")
    assert not Consent.objects.filter(method=Consent.Method.NEWSLETTER_SERVICE).exists()
    with pytest.raises(CommandError):
        call_command("import_unsubscribes", str(path), "--user", staff_member.username)
    call_command("import_unsubscribes", str(path), "--user", register_manager.username)
    assert Consent.objects.filter(method=Consent.Method.NEWSLETTER_SERVICE).count() == 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.UNSUBSCRIBES_IMPORTED).exists()
    with pytest.raises(CommandError):
        call_command(
            "import_unsubscribes", str(FIXTURES / "nope.csv"), "--user", register_manager.username
        )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("nul\x00name.csv", b"Email\naino.virtanen@example.invalid\n"),
        ("binary.csv", b"\x00\x01\x02" * 1000),
        ("latin.csv", "Sähköposti\nääkkönen@example.invalid\n".encode("cp1252")),
        ("x" * 1000 + ".csv", b"Email\n" + b"a@example.invalid\n" * 20),
        ("old.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 100),
    ],
)
@pytest.mark.usefixtures("immediate_tasks")
def test_hostile_uploads_answer_with_a_page_not_an_error(
    client, register_manager, settings, name, content
):
    settings.IMPORT_MAX_ROWS = 10
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:unsubscribe-upload"), {"file": _named(content, name)}, follow=True
    )
    assert response.status_code == 200
    # Refused beside the file field, or checked by the worker: a preview or
    # the reason it failed.
    text = response.content.decode()
    assert (
        (response.context.get("form") is not None and response.context["form"].errors)
        or 'id="task-failed"' in text
        or 'name="confirm"' in text
    )
    for upload in UnsubscribeImport.objects.all():
        assert "\x00" not in upload.file_name and len(upload.file_name) <= 255


def test_the_customers_ledger_shows_the_complaint(client, subscribers, register_manager):
    content = (FIXTURES / "mailjet_exclusions.csv").read_bytes()
    upload = unsubscribes_upload(file_name="x.csv", content=content, by=register_manager)
    unsubscribes_apply(upload=upload, by=register_manager)
    client.force_login(register_manager)
    with override("en"):
        client.cookies["django_language"] = "en"
        eero = client.get(subscribers["eero"].get_absolute_url()).content.decode()
        aino = client.get(subscribers["aino"].get_absolute_url()).content.decode()
    assert "spam complaint" in eero and "spam complaint" not in aino
    assert "Newsletter service" in eero


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("The emails are spam and should be reported", Kind.COMPLAINT),
        ("Contact flagged email as spam", Kind.COMPLAINT),
        ("junk", Kind.COMPLAINT),
        ("Hard bounce", Kind.BOUNCE),
        ("cleaned", Kind.BOUNCE),
        ("softbounce", Kind.IGNORED),
        ("subscribed", Kind.IGNORED),
        ("unsubscribed", Kind.UNSUBSCRIBE),
        ("Opted out", Kind.UNSUBSCRIBE),
        ("I never signed up for this mailing list", Kind.UNSUBSCRIBE),
        ("", Kind.UNSUBSCRIBE),
    ],
)
def test_the_kind_of_a_row_from_its_words(text, kind):
    assert kind_of(text, Kind.UNSUBSCRIBE) == kind


def test_an_unsubscribe_does_not_start_a_restricted_customers_retention_again(
    subscribers, register_manager
):
    """The withdrawal is recorded for everyone in the file, but is activity
    only of a customer whose processing is not restricted (mark_active)."""
    long_ago = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    Customer.objects.update(last_activity_at=long_ago)
    Customer.objects.filter(pk=subscribers["aino"].pk).update(restricted_since=long_ago)
    content = (FIXTURES / "plain_list.txt").read_bytes()
    upload = unsubscribes_upload(file_name="plain_list.txt", content=content, by=register_manager)
    unsubscribes_apply(upload=upload, by=register_manager)
    aino, eero = (Customer.objects.get(pk=subscribers[name].pk) for name in ("aino", "eero"))
    assert Consent.objects.filter(customer=aino).latest("id").event == "withdrawn"
    assert aino.last_activity_at == long_ago
    assert eero.last_activity_at > long_ago
