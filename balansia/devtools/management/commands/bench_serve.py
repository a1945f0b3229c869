"""Run the app like production in gunicorn and prove two things about it.

1. Scale-out: two gunicorn instances on different ports against the same
   database: a session made through one works on the other, and a lockout
   made through one holds on the other (no state lives in the app process).
2. Throughput: a bounded load (loopback only, --seconds each) on the customer
   list and a search, and on the stock admin's same pages.
"""

import http.client
import os
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

PASSWORD = "penkki-kaksi-palvelinta-2026"  # noqa: S105 - fictional bench accounts only


class Session:
    """A tiny HTTP client with cookies, for 127.0.0.1 only."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, form=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            form = {**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            for key, morsel in SimpleCookie(header).items():
                self.cookies[key] = morsel.value
        conn.close()
        return response.status, response.headers, data

    def log_in(self, username, password, code=None):
        self.request("GET", "/accounts/login/")
        status, _headers, _ = self.request(
            "POST", "/accounts/login/", {"username": username, "password": password}
        )
        if code is not None:
            self.request("POST", "/accounts/two-factor/", {"token": code()})
        return status


class Command(BaseCommand):
    help = "Scale-out proof and throughput under gunicorn (make bench runs it)."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=int, default=15)
        parser.add_argument("--clients", type=int, default=4)

    def handle(self, *args, seconds, clients, **options):
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
            raise CommandError(
                "Run it against PostgreSQL (DATABASE_URL), the production database."
            )
        users = self._users()
        servers = [self._start(port) for port in (8101, 8102)]
        try:
            self._scale_out(users)
            self._throughput(users, seconds, clients)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=20)

    def _users(self):
        User = get_user_model()
        staff, _ = User.objects.get_or_create(username="bench-toimisto")
        staff.set_password(PASSWORD)
        staff.is_active = True
        staff.save()
        staff.groups.add(Group.objects.get(name="Toimisto"))
        admin, _ = User.objects.get_or_create(
            username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
        )
        admin.set_password(PASSWORD)
        admin.save()
        device, _ = TOTPDevice.objects.get_or_create(
            user=admin, name="bench", defaults={"confirmed": True}
        )

        AccessAttempt.objects.filter(username__startswith="bench-").delete()
        return {"staff": staff, "admin": admin, "device": device}

    def _code(self, device):
        def code():
            TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
            return (
                f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
            )

        return code

    def _start(self, port):
        env = {
            **os.environ,
            "DEBUG": "false",
            "STATIC_FROM_SOURCE": "true",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "SECURE_HSTS_SECONDS": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            # The stock admin to compare with lives in the benchmark's URLconf.
            "ROOT_URLCONF": "balansia.devtools.stock_admin",
        }
        env.setdefault("SECRET_KEY", "bench-serve-only-" + "x" * 40)
        root = Path(settings.BASE_DIR)
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(root / "gunicorn.conf.py"),
                "balansia.wsgi",
            ],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if Session(port).request("GET", "/privacy/")[0] == 200:
                    return process
            except OSError:
                time.sleep(0.2)
        process.terminate()
        raise CommandError(f"gunicorn on port {port} did not start")

    def _scale_out(self, users):
        one = Session(8101)
        if one.log_in("bench-toimisto", PASSWORD) != 302:
            raise CommandError("The bench account could not log in on :8101.")
        other = Session(8102)
        other.cookies = dict(one.cookies)
        status, _, body = other.request("GET", "/customers/")
        session_ok = status == 200 and b"Asiakkaat" in body
        attacker = Session(8101)
        for _ in range(5):
            attacker.log_in("bench-toimisto", "väärä-salasana-123")
        victim = Session(8102)
        victim.request("GET", "/accounts/login/")
        locked = victim.request(
            "POST", "/accounts/login/", {"username": "bench-toimisto", "password": PASSWORD}
        )[0]

        AccessAttempt.objects.filter(username="bench-toimisto").delete()
        session_text = "works" if session_ok else "FAILED"
        lockout_text = "lockout holds" if locked == 429 else "FAILED"
        self.stdout.write(f"scale-out: session from :8101 used on :8102 -> {session_text}")
        self.stdout.write(
            "scale-out: 5 wrong passwords on :8101, right one on :8102 -> "
            f"HTTP {locked} ({lockout_text})"
        )
        if not session_ok or locked != 429:
            raise CommandError("Scale-out proof failed.")

    def _throughput(self, users, seconds, clients):
        staff = Session(8101)
        staff.log_in("bench-toimisto", PASSWORD)
        admin = Session(8101)
        admin.log_in("bench-admin", PASSWORD, code=self._code(users["device"]))
        cases = [
            ("customer list", staff, "/customers/", "/stock-admin/registry/customer/"),
            ("search 'nen'", staff, "/customers/?q=nen", "/stock-admin/registry/customer/?q=nen"),
        ]
        self.stdout.write(f"throughput, gunicorn 2 workers, {clients} clients, {seconds} s each:")
        for label, session, ours, stock in cases:
            mine = self._load(session.cookies, ours, seconds, clients)
            theirs = self._load(admin.cookies, stock, seconds, clients)
            ratio = mine / theirs if theirs else float("inf")
            self.stdout.write(
                f"  {label:<14} ours {mine:6.1f} req/s   "
                f"stock admin {theirs:6.1f} req/s   {ratio:.1f}x"
            )

    def _load(self, cookies, path, seconds, clients):
        deadline = time.monotonic() + seconds
        counts = []

        def worker(port):
            session = Session(port)
            session.cookies = dict(cookies)
            done = 0
            while time.monotonic() < deadline:
                status = session.request("GET", path)[0]
                if status != 200:
                    raise RuntimeError(f"{path} answered {status}")
                done += 1
            counts.append(done)

        # Half of the clients on each instance, as a load balancer would share them.
        ports = [8101 if index % 2 == 0 else 8102 for index in range(clients)]
        threads = [threading.Thread(target=worker, args=(port,)) for port in ports]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counts) / seconds
