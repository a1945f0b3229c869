"""Every URL, every persona, the expected answer (GET).

A view added to the project without a row here fails
`test_every_view_has_a_rule`. Codes: L = sent to the login page, V = sent to
give the second factor.
"""

import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django_otp import DEVICE_ID_SESSION_KEY

from .urlwalk import walk

L = "login"
V = "two-factor-verify"
PERSONAS = (
    "anonymous",
    "register_manager",
    "staff_member",
    "instructor",
    "no_role_user",
    "inactive_user",
    # The register manager's password, without the code of the authenticator.
    "password_only",
)

#: Before the second factor a user with a device reaches only these; every
#: other view sends them to give it (V).
BEFORE_SECOND_FACTOR = {"two-factor-verify": 200, "logout": 405, "set_language": 302}

# name: (kwargs from the world, {persona: expected}); personas not named get `other`.
MANAGER_ONLY = {"register_manager": 200, "anonymous": L, "inactive_user": L, "other": 403}
OFFICE = {
    "register_manager": 200,
    "staff_member": 200,
    "anonymous": L,
    "inactive_user": L,
    "other": 403,
}
ANY_USER = {"anonymous": L, "inactive_user": L, "other": 200}
POST_ONLY = {"anonymous": L, "inactive_user": L, "other": 405}
PUBLIC = {"other": 200}

RULES = {
    "home": (None, PUBLIC),
    "privacy-notice": (None, PUBLIC),
    "login": (None, {"anonymous": 200, "inactive_user": 200, "other": 302}),
    "logout": (None, POST_ONLY),
    "password_change": (None, ANY_USER),
    "reauthenticate": (None, ANY_USER),
    "two-factor-setup": (None, ANY_USER),
    # Verified or without a device, there is nothing to verify: back to the front page.
    "two-factor-verify": (None, {"anonymous": L, "inactive_user": L, "other": 302}),
    "set_language": (None, {"other": 302}),  # a GET changes nothing and goes back
    "admin-login": (None, {"anonymous": L, "inactive_user": L, "other": 403}),
    # Texts only, no personal data; admin's pages that load it need a login anyway.
    "admin-jsi18n": (None, ANY_USER),
    "registry:customer-list": (None, OFFICE),
    "registry:customer-create": (None, OFFICE),
    "registry:register-export": (None, MANAGER_ONLY),
    "registry:register-export-detail": (lambda w: {"pk": w["register_export"].pk}, MANAGER_ONLY),
    # A GET downloads nothing: back to the export's page and its button.
    "registry:register-export-download": (
        lambda w: {"pk": w["register_export"].pk},
        {**MANAGER_ONLY, "register_manager": 302},
    ),
    "registry:customer-detail": (lambda w: {"pk": w["customer"].pk}, OFFICE),
    "registry:customer-update": (lambda w: {"pk": w["customer"].pk}, OFFICE),
    "registry:consent-create": (lambda w: {"pk": w["customer"].pk}, OFFICE),
    "registry:customer-merge-pick": (lambda w: {"pk": w["customer"].pk}, MANAGER_ONLY),
    "registry:customer-merge-confirm": (
        lambda w: {"pk": w["customer"].pk, "other_pk": w["other_customer"].pk},
        MANAGER_ONLY,
    ),
    "registry:import-list": (None, OFFICE),
    "registry:import-upload": (None, OFFICE),
    "registry:import-detail": (lambda w: {"pk": w["customer_import"].pk}, OFFICE),
    "registry:import-rejected": (lambda w: {"pk": w["customer_import"].pk}, OFFICE),
    "registry:import-undo": (lambda w: {"pk": w["customer_import"].pk}, OFFICE),
    "registry:marketing-list": (None, MANAGER_ONLY),
    # Unsubscribes change the marketing state of many at once: as the lists.
    "registry:unsubscribe-upload": (None, MANAGER_ONLY),
    "registry:unsubscribe-detail": (lambda w: {"pk": w["unsubscribe_import"].pk}, MANAGER_ONLY),
    "registry:request-list": (None, MANAGER_ONLY),
    "registry:request-detail": (lambda w: {"pk": w["case"].pk}, MANAGER_ONLY),
    "registry:request-create": (lambda w: {"pk": w["customer"].pk}, MANAGER_ONLY),
    "registry:request-create-without-customer": (None, MANAGER_ONLY),
    "registry:request-link": (lambda w: {"pk": w["case_without_customer"].pk}, MANAGER_ONLY),
    "registry:request-link-confirm": (
        lambda w: {"pk": w["case_without_customer"].pk, "customer_pk": w["customer"].pk},
        MANAGER_ONLY,
    ),
    "registry:request-close-no-data": (
        lambda w: {"pk": w["case_without_customer"].pk},
        POST_ONLY,
    ),
    "registry:request-answer": (
        lambda w: {"pk": w["answered_case_without_customer"].pk},
        MANAGER_ONLY,
    ),
    "registry:access-report": (lambda w: {"pk": w["customer"].pk}, MANAGER_ONLY),
    "registry:customer-erase": (lambda w: {"pk": w["customer"].pk}, MANAGER_ONLY),
    "registry:customer-restrict": (lambda w: {"pk": w["customer"].pk}, MANAGER_ONLY),
    "registry:customer-restriction-lift": (lambda w: {"pk": w["customer"].pk}, MANAGER_ONLY),
    "registry:retention": (None, MANAGER_ONLY),
    "registry:reports": (None, MANAGER_ONLY),
    "registry:report-customers": (None, MANAGER_ONLY),
    "registry:report-consents": (None, MANAGER_ONLY),
    "registry:report-requests": (None, MANAGER_ONLY),
    "registry:report-health": (None, MANAGER_ONLY),
    "registry:processing-record": (None, MANAGER_ONLY),
    "registry:processing-record-pdf": (None, MANAGER_ONLY),
    "courses:report-courses": (None, MANAGER_ONLY),
    "registry:audit-trail": (None, MANAGER_ONLY),
    "registry:audit-user": (lambda w: {"user_pk": w["instructor"].pk}, MANAGER_ONLY),
    # Only a POST exports; a GET goes back to the trail.
    "registry:audit-export": (None, {**MANAGER_ONLY, "register_manager": 302}),
    "registry:access-review": (None, MANAGER_ONLY),
    "registry:account-deactivate": (lambda w: {"pk": w["instructor"].pk}, MANAGER_ONLY),
    "registry:account-reactivate": (lambda w: {"pk": w["instructor"].pk}, POST_ONLY),
    "courses:course-list": (None, {**OFFICE, "instructor": 200}),
    "courses:course-create": (None, OFFICE),
    "courses:course-detail": (lambda w: {"pk": w["own_course"].pk}, {**OFFICE, "instructor": 200}),
    "courses:course-update": (lambda w: {"pk": w["own_course"].pk}, OFFICE),
    "courses:participant-export": (lambda w: {"pk": w["own_course"].pk}, OFFICE),
    "courses:enrollment-create": (lambda w: {"pk": w["own_course"].pk}, POST_ONLY),
    "courses:customer-enrollment-create": (lambda w: {"pk": w["customer"].pk}, POST_ONLY),
    "courses:enrollment-cancel": (
        lambda w: {"pk": w["own_course"].pk, "enrollment_pk": w["enrollment"].pk},
        OFFICE,
    ),
    "courses:attendance-grid": (
        lambda w: {"pk": w["own_course"].pk},
        {**OFFICE, "instructor": 200},
    ),
    "courses:roll-call": (
        lambda w: {"pk": w["own_course"].pk, "session_pk": w["own_session"].pk},
        {**OFFICE, "instructor": 200},
    ),
    "courses:session-create": (lambda w: {"pk": w["own_course"].pk}, OFFICE),
    "courses:session-update": (
        lambda w: {"pk": w["own_course"].pk, "session_pk": w["own_session"].pk},
        OFFICE,
    ),
    "courses:session-cancel": (
        lambda w: {"pk": w["own_course"].pk, "session_pk": w["own_session"].pk},
        OFFICE,
    ),
    "courses:course-message": (lambda w: {"pk": w["own_course"].pk}, OFFICE),
    "courses:outbox": (None, OFFICE),
    "courses:message-detail": (lambda w: {"pk": w["message"].pk}, OFFICE),
    "courses:message-resend": (lambda w: {"pk": w["message"].pk}, POST_ONLY),
}

#: Objects outside the instructor's scope answer 404, not 403.
SCOPED = [
    # The answer "we hold nothing about you" is for a request without a customer.
    (
        "registry:request-answer",
        lambda w: {"pk": w["case"].pk},
        {**MANAGER_ONLY, "register_manager": 404},
    ),
    # Another register manager's export: only the one who asked sees it.
    (
        "registry:register-export-detail",
        lambda w: {"pk": w["other_register_export"].pk},
        {**MANAGER_ONLY, "register_manager": 404},
    ),
    # The pages of a big marketing list or audit trail export are the same
    # as the register's: the one who asked, with the permission of the kind.
    ("registry:register-export-detail", lambda w: {"pk": w["marketing_export"].pk}, MANAGER_ONLY),
    ("registry:register-export-detail", lambda w: {"pk": w["audit_export"].pk}, MANAGER_ONLY),
    (
        "courses:course-detail",
        lambda w: {"pk": w["other_course"].pk},
        {**OFFICE, "instructor": 404},
    ),
    (
        "courses:attendance-grid",
        lambda w: {"pk": w["other_course"].pk},
        {**OFFICE, "instructor": 404},
    ),
    (
        "courses:roll-call",
        lambda w: {"pk": w["other_course"].pk, "session_pk": w["other_course"].sessions.get().pk},
        {**OFFICE, "instructor": 404},
    ),
    (
        # A session of another course under the address of one's own: 404 for everyone.
        "courses:roll-call",
        lambda w: {"pk": w["own_course"].pk, "session_pk": w["other_course"].sessions.get().pk},
        {**OFFICE, "register_manager": 404, "staff_member": 404, "instructor": 404},
    ),
]


def project_views():
    return {name for name, _url in walk() if not name.startswith("admin:")}


def test_every_view_has_a_rule():
    assert project_views() == set(RULES)


def answer(request, persona, url):
    client = Client()
    if persona == "password_only":
        client.force_login(request.getfixturevalue("register_manager"))
        session = client.session
        del session[DEVICE_ID_SESSION_KEY]
        session.save()
    elif persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    response = client.get(url)
    if response.status_code == 302 and response.url.startswith(reverse("login")):
        return L
    if response.status_code == 302 and response.url.startswith(reverse(V)):
        return V
    return response.status_code


def expected_answer(name, expected, persona):
    if persona == "password_only":
        return BEFORE_SECOND_FACTOR.get(name, V)
    return expected.get(persona, expected["other"])


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(RULES))
def test_the_answer_of_every_view_to_every_persona(request, world, persona, name):
    kwargs, expected = RULES[name]
    url = reverse(name, kwargs=kwargs(world) if kwargs else None)
    assert answer(request, persona, url) == expected_answer(name, expected, persona)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(("name", "kwargs", "expected"), SCOPED)
def test_objects_outside_a_users_scope_answer_404(request, world, persona, name, kwargs, expected):
    url = reverse(name, kwargs=kwargs(world))
    assert answer(request, persona, url) == expected_answer(name, expected, persona)


def test_before_the_second_factor_no_admin_page_opens(request, db):
    client = Client()
    client.force_login(request.getfixturevalue("register_manager"))
    session = client.session
    del session[DEVICE_ID_SESSION_KEY]
    session.save()
    for name, url in walk():
        if name.startswith("admin:"):
            assert client.get(url).url.startswith(reverse(V)), url


@pytest.mark.parametrize("persona", ["staff_member", "instructor", "no_role_user"])
def test_no_admin_page_opens_for_anyone_but_the_register_manager(request, db, persona):
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    for name, url in walk():
        if name.startswith("admin:") and name != "admin:jsi18n":
            assert client.get(url, follow=True).status_code == 403, url


def test_urls_carry_no_personal_data():
    """Objects are identified by numbers only: no name, email or phone can be
    put into an address (search words are typed by the user, in the query)."""

    def routes(patterns, prefix=""):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if not route.startswith("admin/"):
                    yield from routes(entry.url_patterns, route)
            else:
                yield route

    parameters = [
        p for route in routes(get_resolver().url_patterns) for p in re.findall(r"<([^>]+)>", route)
    ]
    assert parameters and all(p.startswith("int:") for p in parameters), parameters
