"""Accessibility in a real browser: axe-core on every page each persona can
open, no page wider than a phone, no button whose words do not fit it, no
table scrolling sideways at a desktop's width, and the keyboard reaches what
the mouse does.

The pages are those of tests/test_permission_table.py that answer a persona
with 200, so a new view is checked as soon as it has its row there. axe-core
comes with the axe-playwright-python package (no download).
"""

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, UserFactory
from .test_permission_table import RULES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
#: axe-core's impact levels that fail the test.
BLOCKING = {"serious", "critical"}
#: Views that answer GET with a form's first step but whose URL needs a
#: query to show a page (none yet), or that act on GET (none may).
#: axe runs for the personas that see every kind of page between them (the
#: register manager sees what staff see, and more); every persona's pages are
#: measured at a phone's width.
PERSONAS = {"anonymous": True, "register_manager": True, "instructor": True, "staff_member": False}
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
}


def pages_for(persona, world):
    """(name, url) of every view that answers `persona` with a page."""
    for name, (kwargs_of, expected) in sorted(RULES.items()):
        if expected.get(persona, expected["other"]) != 200:
            continue
        kwargs = kwargs_of(world) if kwargs_of else {}
        yield name, reverse(name, kwargs=kwargs)


def serious(results):
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} "
        f"at {[node['target'] for node in violation['nodes']][:3]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING
    ]


#: Buttons whose words do not fit: a word broken over two lines ("Ha" above
#: "e"), or text wider than the button (cut off by its column).
BROKEN_BUTTONS = """() => [...document.querySelectorAll("button, .btn")]
  .filter((el) => el.offsetParent !== null && el.textContent.trim())
  .flatMap((el) => {
    const text = el.textContent.trim().replace(/\\s+/g, " ");
    const range = document.createRange();
    const found = [];
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      for (const match of node.textContent.matchAll(/\\S+/g)) {
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) found.push(`the button "${text}" breaks "${match[0]}" over lines`);
      }
    }
    if (el.scrollWidth > el.clientWidth + 1) found.push(`the button "${text}" is cut off`);
    return found;
  })"""


def broken_buttons(page):
    return page.evaluate(BROKEN_BUTTONS)


#: Tables that scroll sideways at a desktop's width (a phone may scroll them):
#: the access review's buttons were out of sight at 1280 px.
WIDE_TABLES = """() => [...document.querySelectorAll(".table-responsive")]
  .filter((el) => el.offsetParent !== null && el.scrollWidth > el.clientWidth + 1)
  .map((el) => `a table ${el.scrollWidth} px wide in ${el.clientWidth} px`)"""


#: Controls laid out side by side in a row of a form (".row.align-items-end")
#: whose bottoms do not line up: a help text under one of them lifted it
#: above its neighbours (the customer page's enrolment form).
MISALIGNED_CONTROLS = """() => [...document.querySelectorAll(".row.align-items-end")]
  .filter((row) => row.offsetParent !== null)
  .flatMap((row) => {
    const lines = [];
    for (const col of row.children) {
      const control = col.querySelector(
        "select, textarea, .btn, input:not([type=hidden]):not([type=checkbox]):not([type=radio])"
      );
      if (col.offsetParent === null || !control) continue;
      const box = col.getBoundingClientRect();
      const line = lines.find((l) => box.top < l.bottom && l.top < box.bottom);
      const name = control.name || control.textContent.trim();
      const entry = { name, bottom: control.getBoundingClientRect().bottom };
      if (line) line.controls.push(entry);
      else lines.push({ top: box.top, bottom: box.bottom, controls: [entry] });
    }
    const bottoms = (l) => l.controls.map((c) => c.bottom);
    const named = (l) => l.controls.map((c) => `${c.name} ${Math.round(c.bottom)}`);
    return lines
      .filter((l) => Math.max(...bottoms(l)) - Math.min(...bottoms(l)) > 2)
      .map((l) => `controls out of line: ${named(l).join(", ")}`);
  })"""


@pytest.mark.parametrize(("persona", "with_axe"), PERSONAS.items())
def test_every_page_passes_axe_and_fits_a_phone(
    page,
    live_server,
    log_in,
    request,
    world,
    persona,
    with_axe,
):
    if persona != "anonymous":
        log_in(page, request.getfixturevalue(persona))
    axe = Axe()
    checked, problems = 0, {}
    for name, url in pages_for(persona, world):
        try:
            response = page.goto(live_server.url + url)
        except PlaywrightError as error:
            if "Download is starting" in str(error):
                continue  # a file (CSV, XLSX, JSON), not a page
            raise
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue  # shown by the browser, but not a page (admin's JavaScript texts)
        checked += 1
        found = serious(axe.run(page, options=AXE_OPTIONS)) if with_axe else []
        found += [
            f"{text} at 1280 px"
            for text in broken_buttons(page)
            + page.evaluate(WIDE_TABLES)
            + page.evaluate(MISALIGNED_CONTROLS)
        ]
        page.set_viewport_size(PHONE)
        width = page.evaluate("document.documentElement.scrollWidth")
        found += [f"{text} at 390 px" for text in broken_buttons(page)]
        page.set_viewport_size({"width": 1280, "height": 720})
        if width > PHONE["width"]:
            found.append(f"the page is {width} px wide at 390 px")
        if found:
            problems[name] = found
    assert checked >= 3 if persona == "anonymous" else checked >= 2
    assert problems == {}


def test_the_skip_link_and_the_keyboard(page, live_server, log_in, staff_member):
    """Tab first reaches the skip link, which moves the focus to the content;
    focus is visible; the customer search is reached and used with keys only."""
    log_in(page, staff_member)
    page.goto(live_server.url + reverse("registry:customer-list"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Siirry sisältöön")
    expect(skip).to_be_focused()
    outline = skip.evaluate(
        "link => getComputedStyle(link).outlineStyle + getComputedStyle(link).boxShadow"
    )
    assert outline.strip() not in ("none", "nonenone")
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    search = page.get_by_role("textbox", name="Hae")
    for _ in range(40):
        page.keyboard.press("Tab")
        if search.evaluate("input => input === document.activeElement"):
            break
    expect(search).to_be_focused()
    page.keyboard.type("Virtanen")
    page.keyboard.press("Enter")
    page.wait_for_url("**/customers/?**q=Virtanen**")


def test_unbroken_long_names_do_not_widen_a_phones_page(page, live_server, log_in, staff_member):
    """Third probe: a 100-character name without spaces made the customer
    page 2,755 px wide at 390 px, a 200-character title the course page 3,316."""
    customer = CustomerFactory(first_name="A" * 100, last_name="B" * 100, city="C" * 100)
    course = CourseFactory(title="K" * 200, location="P" * 200)
    EnrollmentFactory(course=course, customer=customer)
    log_in(page, staff_member)
    page.set_viewport_size(PHONE)
    widths = {}
    for url in (customer.get_absolute_url(), course.get_absolute_url()):
        page.goto(live_server.url + url)
        widths[url] = page.evaluate("document.documentElement.scrollWidth")
    assert widths == dict.fromkeys(widths, PHONE["width"])


def test_the_alerts_of_the_access_review_pass_axe(page, live_server, log_in, register_manager):
    """The pages above show no alert (no account of `world` is dormant): a
    dormant account's link on the warning's yellow was 4.1:1, below AA."""
    long_ago = timezone.now() - timedelta(days=400)
    UserFactory(username="unohtunut", date_joined=long_ago, last_login=long_ago)
    log_in(page, register_manager)
    page.goto(live_server.url + reverse("registry:access-review"))
    expect(page.get_by_role("link", name="unohtunut").first).to_be_visible()
    assert serious(Axe().run(page, options=AXE_OPTIONS)) == []
