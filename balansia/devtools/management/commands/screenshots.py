"""Screenshots of the main pages at a desktop's and a phone's width.

`make screenshots` runs this on a freshly seeded database of its own
(var/screenshots.sqlite3): it serves the register with the development
server, logs three fictional personas in through the login page (the
register manager with the code of their authenticator) and writes each page
at 1280 and 390 px to var/screenshots/. A page wider than the window at 390
px is named and the command fails, as tests/test_accessibility.py does.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from courses.models import Course
from registry.models import Customer
from registry.rights.models import DataSubjectRequest
from registry.roles import INSTRUCTOR, REGISTER_MANAGER, STAFF

PASSWORD = "kuvakaappaus-esittely-2026"  # noqa: S105 - fictional demo accounts only
WIDTHS = (1280, 390)


def _pages(persona, course, customer, case):
    """(file name, address) of the pages each persona works with."""
    pages = [("etusivu", reverse("home"))]
    if persona == "instructor":
        return [*pages, ("kurssit", reverse("courses:course-list"))] + (
            [("kurssi", reverse("courses:course-detail", args=[course.pk]))] if course else []
        )
    pages += [
        ("asiakkaat", reverse("registry:customer-list")),
        ("asiakas", reverse("registry:customer-detail", args=[customer.pk])),
        ("asiakas-muokkaus", reverse("registry:customer-update", args=[customer.pk])),
        ("uusi-asiakas", reverse("registry:customer-create")),
        ("kurssit", reverse("courses:course-list")),
        ("kurssi", reverse("courses:course-detail", args=[course.pk])),
        ("tuonti", reverse("registry:import-upload")),
    ]
    if persona == "register_manager":
        pages += [
            ("tarkastusraportti", reverse("registry:access-report", args=[customer.pk])),
            ("pyynnot", reverse("registry:request-list")),
            ("lokitiedot", reverse("registry:audit-trail")),
            ("kayttooikeudet", reverse("registry:access-review")),
            ("sailytysaika", reverse("registry:retention")),
        ]
        if case:
            pages.append(("pyynto", reverse("registry:request-detail", args=[case.pk])))
    return pages


class Command(BaseCommand):
    help = "Screenshots of the main pages at 1280 and 390 px into var/screenshots/."

    def add_arguments(self, parser):
        parser.add_argument("--out", default=str(settings.VAR_DIR / "screenshots"))

    def handle(self, *args, out, **options):
        try:
            from playwright.sync_api import sync_playwright  # noqa: PLC0415 - a dev extra
        except ImportError as error:
            raise CommandError("Playwright is a dev extra: run `make screenshots`.") from error
        customer = Customer.objects.order_by("pk").first()
        course = Course.objects.order_by("-pk").first()
        if customer is None or course is None:
            raise CommandError("The database is empty: run manage.py seed_demo first.")
        users = self._personas(course)
        # The ORM is not called inside Playwright's event loop: keys first.
        keys = {d.user_id: d.bin_key for d in TOTPDevice.objects.filter(user__in=users.values())}
        case = DataSubjectRequest.objects.order_by("pk").first()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        port = self._free_port()
        server = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wide = []
        try:
            self._wait_for(port)
            base = f"http://127.0.0.1:{port}"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
                )
                for persona, user in users.items():
                    page = browser.new_page(
                        viewport={"width": 1280, "height": 800}, locale="fi-FI"
                    )
                    self._log_in(page, base, user, keys.get(user.pk))
                    for name, url in _pages(persona, course, customer, case):
                        page.goto(base + url)
                        for width in WIDTHS:
                            page.set_viewport_size({"width": width, "height": 800})
                            shown = page.evaluate("document.documentElement.scrollWidth")
                            if shown > width:
                                wide.append(f"{persona} {name}: {shown} px at {width} px")
                            path = out / f"{persona}-{name}-{width}.png"
                            page.screenshot(path=path, full_page=True)
                    page.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
        written = len(list(out.glob("*.png")))
        self.stdout.write(f"{written} screenshots in {out}")
        if wide:
            raise CommandError("Wider than the window:\n" + "\n".join(wide))

    def _personas(self, course):
        """Fictional accounts of the three roles, made once in this database."""
        model = get_user_model()
        users = {}
        for persona, (username, role) in {
            "register_manager": ("esittely-vastaava", REGISTER_MANAGER),
            "staff_member": ("esittely-toimisto", STAFF),
            "instructor": ("esittely-ohjaaja", INSTRUCTOR),
        }.items():
            user, _created = model.objects.get_or_create(
                username=username, defaults={"is_staff": role == REGISTER_MANAGER}
            )
            user.set_password(PASSWORD)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            if role == REGISTER_MANAGER:
                TOTPDevice.objects.get_or_create(user=user, name="esittely", confirmed=True)
            users[persona] = user
        Course.objects.filter(pk=course.pk).update(instructor=users["instructor"])
        return users

    def _log_in(self, page, base, user, key):
        page.goto(base + reverse("login"))
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("form:has(input[name=password]) button[type=submit]")
        page.wait_for_load_state()
        if "/two-factor/" in page.url:
            page.fill("input[name=token]", f"{totp(key):06d}")
            page.click("form:has(input[name=token]) button[type=submit]")
            page.wait_for_load_state()

    @staticmethod
    def _free_port():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    @staticmethod
    def _wait_for(port, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise CommandError("The development server did not start.")
