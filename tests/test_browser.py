"""Journeys in a real browser (Debian chromium through Playwright)."""

import json
import re
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.models import Customer
from registry.once import SUBMISSION_SECONDS
from registry.services import customer_update

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory
from .test_imports import csv_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_notice_login_dashboard_logout(page, live_server, staff_member, password):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Tietosuojaseloste", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Rekisterinpitäjä")).to_be_visible()

    page.get_by_label("Käyttäjätunnus").fill("toimisto")
    page.get_by_label("Salasana").fill(password)
    page.get_by_role("button", name="Kirjaudu sisään").click()

    expect(page.get_by_role("heading", name="Etusivu")).to_be_visible()
    expect(page.get_by_text("Roolisi: Toimisto")).to_be_visible()

    # The menu fits on one line at a desktop width.
    tops = page.locator("#mainnav .nav-link").evaluate_all(
        "links => links.map(link => Math.round(link.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 1, tops

    page.get_by_role("button", name="toimisto").click()
    page.get_by_role("button", name=re.compile("Kirjaudu ulos")).click()
    expect(page.get_by_role("heading", name="Tietosuojaseloste", exact=True)).to_be_visible()


def test_wrong_password_shows_an_error_and_keeps_the_user_name(page, live_server, staff_member):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Käyttäjätunnus").fill("toimisto")
    page.get_by_label("Salasana").fill("väärä-salasana-123")
    page.get_by_role("button", name="Kirjaudu sisään").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "Käyttäjätunnus tai salasana ei ole oikein"
    )
    expect(page.get_by_label("Käyttäjätunnus")).to_have_value("toimisto")


def test_staff_finds_and_corrects_a_customer_and_the_manager_sees_the_trail(
    page, live_server, log_in, staff_member, register_manager
):

    CustomerFactory(first_name="Elina", last_name="Mäki-Petäjä", phone="+358401112233")
    CustomerFactory.create_batch(3)

    log_in(page, staff_member)
    page.get_by_role("link", name="Asiakkaat").click()
    page.get_by_label("Hae", exact=True).fill("040 111 2233")
    page.get_by_role("button", name="Hae", exact=True).click()
    expect(page.get_by_text("1 asiakas")).to_be_visible()
    page.get_by_role("link", name="Mäki-Petäjä, Elina").click()
    expect(page.get_by_role("heading", name="Elina Mäki-Petäjä")).to_be_visible()

    page.get_by_role("link", name="Muokkaa", exact=True).click()
    phone = page.get_by_label("Puhelin")
    expect(phone).to_have_value("040 1112233")
    phone.fill("040 11")
    page.get_by_role("button", name="Tallenna").click()
    expect(page.get_by_text("Anna kelvollinen puhelinnumero")).to_be_visible()
    expect(page.get_by_label("Puhelin")).to_have_value("040 11")
    expect(page.get_by_label("Puhelin")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Puhelin").fill("050 123 4567")
    page.get_by_role("button", name="Tallenna").click()
    expect(page.get_by_text("Muutokset tallennettu.")).to_be_visible()
    expect(page.get_by_role("link", name="050 1234567")).to_be_visible()
    customer_url = page.url

    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        by=staff_member,
        target=Customer.objects.get(last_name="Mäki-Petäjä"),
        detail={"via": "course", "page": 2},
    )
    log_in(page, register_manager)
    page.goto(customer_url)
    history = page.get_by_role("region", name="Tietueen tapahtumaloki")
    expect(history.get_by_role("row").filter(has_text="Muutti asiakkaan tietoja")).to_contain_text(
        "+358401112233 → +358501234567"
    )
    expect(history.get_by_role("row").filter(has_text="toimisto").first).to_be_visible()
    # The details' parts stand apart: "kurssin sivu · sivu 2", not "kurssin sivusivu 2".
    parts = history.get_by_role("row").filter(has_text="kurssin sivu").locator("span.small")
    separators = parts.evaluate_all(
        "els => els.map(el => getComputedStyle(el, '::before').content)"
    )
    assert separators == ["none", '" · "']


def test_an_edit_page_left_open_overnight_keeps_what_was_typed(
    page, live_server, log_in, staff_member, register_manager
):
    """The page is opened, the city typed; someone moves the customer; the
    Save is clicked the next day. Nothing typed is lost, and no history is
    shown; the second Save goes through."""
    customer = CustomerFactory(street_address="Ensitie 1", city="Joensuu", postal_code="80100")
    log_in(page, staff_member)
    page.goto(live_server.url + f"/customers/{customer.pk}/edit/")
    page.get_by_label("Postitoimipaikka").fill("Kuopio")
    for street in ("Toinentie 2", "Kolmastie 3"):
        customer_update(
            customer=Customer.objects.get(pk=customer.pk),
            data={"street_address": street},
            by=register_manager,
        )
    later = time.time() + SUBMISSION_SECONDS + 60
    with mock.patch("django.core.signing.time", SimpleNamespace(time=lambda: later)):
        page.get_by_role("button", name="Tallenna").click()
        note = page.locator("#edit-outdated")
        expect(note).to_contain_text("Sivu oli auki yli vuorokauden")
        expect(page.get_by_text("Toinentie 2")).to_have_count(0)
        expect(page.get_by_label("Katuosoite")).to_have_value("Kolmastie 3")
        expect(page.get_by_label("Postitoimipaikka")).to_have_value("Kuopio")
        page.get_by_role("button", name="Tallenna").click()
        expect(page.get_by_text("Muutokset tallennettu.")).to_be_visible()
    customer.refresh_from_db()
    assert (customer.street_address, customer.city) == ("Kolmastie 3", "Kuopio")


def test_consent_given_then_withdrawn_changes_the_marketing_list(
    page, live_server, log_in, staff_member, register_manager
):

    customer = CustomerFactory(first_name="Aino", last_name="Esimerkki")
    manager_page = page.context.browser.new_context(locale="fi-FI").new_page()
    log_in(manager_page, register_manager)

    def email_list_count():
        manager_page.goto(live_server.url + "/marketing/")
        manager_page.get_by_label("Sähköposti", exact=True).check()
        manager_page.get_by_role("button", name="Laske").click()
        return manager_page.get_by_role("heading", name="saa markkinoida").inner_text()

    assert email_list_count().startswith("0 ")

    log_in(page, staff_member)
    page.goto(live_server.url + customer.get_absolute_url())
    page.get_by_role("link", name="Kirjaa suostumus tai kielto").click()
    page.get_by_label("Sähköpostimarkkinointi: suostumus annettu").check()
    page.get_by_label("Henkilökohtaisesti").check()
    wording = page.get_by_label("Asiakkaalle näytetty sanamuoto")
    wording.select_option(label=wording.locator("option", has_text="Sähköposti v1").inner_text())
    page.get_by_role("button", name="Kirjaa", exact=True).click()
    expect(page.get_by_text("Kirjattu suostumuslokiin.")).to_be_visible()
    expect(page.get_by_text("Sähköposti: kyllä")).to_be_visible()

    assert email_list_count().startswith("1 ")

    page.get_by_role("link", name="Kirjaa suostumus tai kielto").click()
    page.get_by_label("Sähköpostimarkkinointi: suostumus peruttu").check()
    page.get_by_label("Puhelin").check()
    page.get_by_role("button", name="Kirjaa", exact=True).click()
    expect(page.get_by_text("Sähköposti: ei")).to_be_visible()
    page.get_by_text("Loki: 2 tapahtumaa").click()
    ledger = page.get_by_role("region", name="Markkinointisuostumukset")
    expect(ledger.get_by_role("row").filter(has_text="Suostumus peruttu")).to_be_visible()
    expect(ledger.get_by_role("row").filter(has_text="Suostumus annettu")).to_contain_text(
        "Haluan saada uutiskirjeen"
    )

    assert email_list_count().startswith("0 ")


def test_course_with_waiting_list_promotion_and_export(page, live_server, log_in, staff_member):
    for first, last in (("Aino", "Aho"), ("Bertta", "Berg"), ("Cecilia", "Carlsson")):
        CustomerFactory(first_name=first, last_name=last)
    log_in(page, staff_member)
    page.goto(live_server.url + "/courses/new/")
    page.get_by_label("Nimi").fill("Lauantain jooga")
    page.get_by_label("Paikkoja").fill("2")
    # One Saturday morning: a series of one session.
    page.get_by_label("Alkaen").fill("2031-06-07")
    page.get_by_label("Viikonpäivä").select_option(label="lauantai")
    page.get_by_label("Alkaa klo").fill("10:00")
    page.get_by_label("Päättyy klo").fill("11:30")
    page.get_by_label("Kertojen määrä").fill("1")
    page.get_by_role("button", name="Näytä päivät").click()
    expect(page.get_by_label("la 7.6.2031")).to_be_checked()
    page.get_by_role("button", name="Tallenna kurssi ja valitut kerrat").click()
    expect(page.get_by_role("heading", name="Osallistujat 0/2")).to_be_visible()

    for first, last in (("Aino", "Aho"), ("Bertta", "Berg"), ("Cecilia", "Carlsson")):
        page.get_by_label("Hae asiakkaita").fill(last)
        page.get_by_role("button", name="Hae", exact=True).click()
        # On a full course the button says where the person goes.
        page.get_by_role(
            "button", name=re.compile(f"^(Ilmoita {first}|Lisää {first} jonoon)$")
        ).click()
    expect(
        page.get_by_text("Kurssi on täynnä: Cecilia Carlsson on numero 1 jonossa.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Osallistujat 2/2")).to_be_visible()
    expect(page.get_by_role("heading", name="Jono (1)")).to_be_visible()

    page.get_by_role("row", name=re.compile("Aino Aho")).get_by_role(
        "link", name="Peru ilmoittautuminen"
    ).click()
    # A page of its own asks first and says who gets the place.
    expect(
        page.get_by_text("Paikka siirtyy jonon ensimmäiselle, Cecilia Carlsson.")
    ).to_be_visible()
    page.get_by_role("button", name="Peru ilmoittautuminen").click()
    expect(page.get_by_text("Cecilia Carlsson sai paikan jonosta.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Cecilia Carlsson"))).to_contain_text(
        "Ilmoittautunut"
    )
    expect(page.get_by_role("heading", name="Jono (0)")).to_be_visible()

    page.get_by_role("link", name="Vie tiedostoon").click()
    page.get_by_label("Viennin käyttötarkoitus").fill("lista ohjaajalle")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Vie tiedostoon").click()
    download = download_info.value
    assert download.suggested_filename.startswith("osallistujat-lauantain-jooga-2031-06-07")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    assert "Bertta;Berg;Ilmoittautunut" in content and "Aho" not in content


def test_instructor_calls_the_roll_on_a_phone(page, live_server, log_in, instructor):
    """Issue 18 and issue 17 item 2: today's session opens from the course
    page, whole rows are tap targets of 44 px or more, "didn't come" is a
    state of its own, and saving never reorders the rows."""
    start = timezone.now() - timedelta(minutes=10)
    week = timedelta(days=7)
    course = CourseFactory(
        title="Aamujooga",
        instructor=instructor,
        sessions=[(start + n * week, start + n * week + timedelta(hours=1)) for n in range(4)],
    )
    aino = EnrollmentFactory(
        course=course,
        customer=CustomerFactory(first_name="Aino", last_name="Aho", phone="+358401112233"),
    )
    bertta = EnrollmentFactory(
        course=course, customer=CustomerFactory(first_name="Bertta", last_name="Berg")
    )
    EnrollmentFactory(
        course=course, customer=CustomerFactory(first_name="Cecilia", last_name="Ceder")
    )

    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, instructor)
    page.get_by_role("button", name="Valikko").click()
    page.get_by_role("link", name="Omat kurssit").click()
    page.get_by_role("link", name=re.compile("Aamujooga")).click()
    expect(page.get_by_text("040 1112233")).to_have_count(0)  # no phone numbers by default
    page.get_by_role("link", name=re.compile("^Nimenhuuto ")).click()
    expect(page.get_by_role("heading", name="Nimenhuuto")).to_be_visible()

    def names():
        return page.locator(".roll-call-name").all_inner_texts()

    before = names()
    assert before == ["1. Aino Aho", "2. Bertta Berg", "3. Cecilia Ceder"]
    heights = page.locator(".roll-call-name, .roll-call-choice").evaluate_all(
        "els => els.map(el => el.getBoundingClientRect().height)"
    )
    assert min(heights) >= 44, heights
    # Tapping the name marks "came"; the other states are buttons on the row.
    page.get_by_text("1. Aino Aho").click()
    page.locator(f"#row-{bertta.pk}").get_by_text("Poissa", exact=True).click()
    page.get_by_role("button", name="Tallenna osallistuminen").click()
    expect(page.get_by_text("Osallistuminen tallennettu (2 muutosta).")).to_be_visible()
    assert names() == before
    expect(page.locator(f"#mark-{aino.pk}-came")).to_be_checked()
    expect(page.locator(f"#mark-{bertta.pk}-absent")).to_be_checked()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    # The next session has not started: it cannot be marked yet.
    page.get_by_role("link", name=re.compile("Seuraava kerta")).click()
    expect(page.get_by_text("Läsnäolon voi merkitä, kun kerta on alkanut.")).to_be_visible()
    expect(page.get_by_role("button", name="Tallenna osallistuminen")).to_have_count(0)


def test_register_manager_answers_an_access_request_and_an_erasure(
    page, live_server, log_in, register_manager, password
):

    customer = CustomerFactory(
        first_name="Hilma", last_name="Kysyjä", email="hilma@example.invalid"
    )
    log_in(page, register_manager)
    page.goto(live_server.url + customer.get_absolute_url())
    page.get_by_role("link", name="Kirjaa rekisteröidyn pyyntö").click()
    page.get_by_label("Tarkastuspyyntö (mitä tietoja minusta on?)").check()
    page.get_by_label("Miten henkilöllisyys tarkistettiin").fill(
        "Vastaus rekisterissä olevasta sähköpostista"
    )
    page.get_by_role("button", name="Kirjaa pyyntö").click()
    expect(page.get_by_text("päivää jäljellä").first).to_be_visible()

    page.get_by_role("link", name="Tarkastusraportti").click()
    expect(page.get_by_text("hilma@example.invalid")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Lataa JSON").click()
    report = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert report["customer"]["email"] == "hilma@example.invalid"

    page.goto(live_server.url + "/requests/")
    page.get_by_role("link", name=re.compile("^DSR-")).click()
    page.get_by_label("Tila").select_option(label="Valmis")
    page.get_by_label("Lopputulos").fill("Raportti lähetetty sähköpostilla")
    page.get_by_role("button", name="Tallenna").click()
    expect(page.get_by_text("Pyyntö päivitetty.")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text="Raportti lähetetty")).to_be_visible()

    # "Delete me."
    page.goto(live_server.url + customer.get_absolute_url())
    page.get_by_role("link", name="Kirjaa rekisteröidyn pyyntö").click()
    page.get_by_label("Tietojen poistaminen").check()
    page.get_by_label("Miten henkilöllisyys tarkistettiin").fill("Henkilökortti nähty toimistolla")
    page.get_by_role("button", name="Kirjaa pyyntö").click()
    page.get_by_role("link", name="Poista asiakkaan tiedot").click()
    page.get_by_label("Salasanasi").fill(password)
    page.get_by_label("Kirjoita vahvistussana").fill("POISTA")
    page.get_by_role("button", name="Poista pysyvästi").click()
    expect(page.get_by_text("Asiakkaan tiedot poistettiin. Viite:")).to_be_visible()
    expect(page.get_by_text("(poistettu)").first).to_be_visible()

    page.goto(live_server.url + "/customers/?q=Kysyjä")
    expect(page.get_by_text("Haulla ei löytynyt asiakkaita.")).to_be_visible()


def run_the_worker():
    """`manage.py db_worker --batch` in the test's thread: on SQLite the live
    server shares the test's in-memory database, which no other process can
    open (tests/test_worker.py runs real worker processes)."""
    call_command("db_worker", "--batch", "--no-reload", "--no-startup-delay", verbosity=0)


def test_staff_imports_a_spreadsheet_checks_it_and_undoes_it(
    page, live_server, log_in, staff_member, tmp_path
):

    spreadsheet = tmp_path / "vanha-rekisteri.csv"
    spreadsheet.write_bytes(
        csv_bytes(
            [
                ["Etunimi", "Sukunimi", "Sähköposti", "Puhelin", "Postitoimipaikka", "Huom"],
                ["Aino", "Äijälä", "aino.tuonti@example.invalid", "040 111 2233", "Joensuu", "x"],
                ["Eino", "Mäki-Petäjä", "eino.tuonti@example.invalid", "", "Liperi", ""],
                ["Ilmari", "Virheellinen", "ilmari@", "", "Outokumpu", ""],
            ],
            encoding="cp1252",
        )
    )

    log_in(page, staff_member)
    page.get_by_role("link", name="Asiakkaat").click()
    page.get_by_role("link", name="Tuo tiedostosta").click()
    page.get_by_label("Tiedosto").set_input_files(spreadsheet)
    page.get_by_role("button", name="Lataa ja esikatsele").click()

    # The upload only kept the file: the page follows the worker's progress
    # (static/js/task-progress.js) and turns into the preview when it is done.
    expect(page.locator("[data-task-progress]")).to_contain_text("Odotetaan")
    run_the_worker()
    expect(page.get_by_role("heading", name="Tarkista tuonti")).to_be_visible()
    expect(page.get_by_label("Postitoimipaikka")).to_have_value("city")
    expect(page.get_by_label("Huom")).to_have_value("")
    preview = page.locator("#preview-table")
    expect(preview.get_by_role("row").filter(has_text="Äijälä")).to_contain_text("Lisätään")
    rejected = preview.get_by_role("row").filter(has_text="Virheellinen")
    expect(rejected).to_contain_text("Hylätään")
    expect(rejected).to_contain_text("Sähköposti: Syötä kelvollinen sähköpostiosoite.")
    assert not Customer.objects.exists()

    # The city is not wanted after all: the preview follows the new choice.
    page.get_by_label("Postitoimipaikka").select_option("")
    page.get_by_role("button", name="Päivitä esikatselu").click()
    expect(page.locator("[data-task-progress]")).to_be_visible()
    run_the_worker()
    expect(preview.get_by_role("row").filter(has_text="Äijälä")).not_to_contain_text("Joensuu")

    page.get_by_role("button", name="Tuo 2 asiakasta").click()
    expect(page.locator("#task-bar")).to_be_visible()
    run_the_worker()
    expect(page.locator("#created-count")).to_contain_text("2")
    expect(page.get_by_role("cell", name="Sähköposti: Syötä kelvollinen")).to_be_visible()

    page.get_by_role("link", name="näytä asiakkaat").click()
    expect(page.get_by_text("2 asiakasta")).to_be_visible()
    page.get_by_role("link", name="Äijälä, Aino").click()
    expect(page.get_by_text("tuotu tiedostosta vanha-rekisteri.csv")).to_be_visible()
    page.get_by_role("link", name="vanha-rekisteri.csv").click()

    page.get_by_role("link", name="Peru tämä tuonti").click()
    page.get_by_role("button", name="Peru tuonti").click()
    expect(page.get_by_text("Tuonti peruttu: 2 asiakasta poistettu.")).to_be_visible()
    expect(page.locator("#import-status")).to_have_text("Peruttu")
    assert not Customer.objects.exists()


def test_the_register_managers_menu_fits_on_one_line_and_works_on_a_phone(
    page, live_server, log_in, register_manager
):
    log_in(page, register_manager)
    tops = page.locator("#mainnav .nav-link").evaluate_all(
        "links => links.map(link => Math.round(link.getBoundingClientRect().top))"
    )
    assert len(set(tops)) == 1, tops  # 1280 px: no item wraps onto a second line
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # nor runs past it
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Valikko").click()
    # The menu slides open; its dropdown is opened once it has (not mid-slide).
    expect(page.locator("#mainnav")).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    page.get_by_role("navigation").get_by_role("button", name="Valvonta").click()
    page.get_by_role("navigation").get_by_role("link", name="Tapahtumaloki").click()
    expect(page.get_by_role("heading", name="Tapahtumaloki")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
