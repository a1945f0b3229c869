"""System checks of the register's own settings (`manage.py check --deploy`)."""

import re

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def suppression_key_check(app_configs, **kwargs):
    if settings.SUPPRESSION_KEY_SET:
        return []
    return [
        Warning(
            "SUPPRESSION_KEY is not set: the suppression list's hashes are keyed with a "
            "key derived from SECRET_KEY, and rotating SECRET_KEY would forget every "
            "objection kept on it.",
            hint="Set SUPPRESSION_KEY in the environment to a long random value and "
            "never change it (README, Settings).",
            id="registry.W001",
        )
    ]


@register("privacy", deploy=True)
def processors_check(app_configs, **kwargs):
    if settings.DEBUG or settings.REGISTER_PROCESSORS:
        return []
    return [
        Warning(
            "REGISTER_PROCESSORS is empty: the privacy notice says that no service provider "
            "processes the register's data, yet the server's hosting provider, the mail relay, "
            "the off-site backup site and the newsletter service do.",
            hint="List every processor in REGISTER_PROCESSORS, with the safeguard of a transfer "
            "outside the EU/EEA (README, Processors).",
            id="registry.W002",
        )
    ]


#: The fictional values that settings.py ships, which a real notice must not show.
PLACEHOLDERS = {
    "CONTROLLER_STREET": ("controller", "street", "Esimerkkikatu 1"),
    "CONTROLLER_BUSINESS_ID": ("controller", "business_id", "0000000-0"),
    "REGISTER_CONTACT_NAME": ("contact", "name", "Rekisterivastaava (nimi asetuksissa)"),
    "REGISTER_CONTACT_PHONE": ("contact", "phone", "+358 40 000 0000"),
}
#: Addresses whose domain is reserved never to exist (RFC 6761): no mail arrives.
EMAILS = {
    "CONTROLLER_EMAIL": ("controller", "email"),
    "REGISTER_CONTACT_EMAIL": ("contact", "email"),
}


def is_business_id(value):
    """A Finnish business ID (Y-tunnus): seven digits, a hyphen and the check
    digit (weights 7, 9, 10, 5, 8, 4, 2; remainder 0 gives 0, 1 is never given)."""
    if not re.fullmatch(r"[0-9]{7}-[0-9]", value):
        return False
    remainder = (
        sum(int(d) * w for d, w in zip(value[:7], (7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    )
    return remainder != 1 and int(value[-1]) == (0 if remainder == 0 else 11 - remainder)


@register("privacy", deploy=True)
def controller_check(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    details = {
        "controller": settings.REGISTER_CONTROLLER,
        "contact": settings.REGISTER_CONTACT_PERSON,
    }
    unset = [
        name
        for name, (whose, key, placeholder) in PLACEHOLDERS.items()
        if details[whose][key] == placeholder
    ]
    unset += [
        name
        for name, (whose, key) in EMAILS.items()
        if details[whose][key].lower().rstrip(".").endswith(".invalid")
    ]
    business_id = details["controller"]["business_id"]
    if "CONTROLLER_BUSINESS_ID" not in unset and not is_business_id(business_id):
        unset.append("CONTROLLER_BUSINESS_ID")
    if not unset:
        return []
    return [
        Warning(
            "The privacy notice shows placeholders or invalid values for the controller "
            "or the register's contact person: "
            f"{', '.join(sorted(unset))}.",
            hint="Set the controller's and the register contact's real details in the "
            "server's environment (README, Settings); a business ID is seven digits, a "
            "hyphen and its check digit.",
            id="registry.W003",
        )
    ]


#: What settings.py chooses without EMAIL_HOST: each message as a file on the server.
FILE_BACKEND = "courses.mail.EmlFileBackend"


@register("privacy", deploy=True)
def mail_files_check(app_configs, **kwargs):
    if settings.DEBUG or settings.EMAIL_BACKEND != FILE_BACKEND:
        return []
    return [
        Warning(
            f"Mail is written to files in {settings.EMAIL_FILE_PATH}, not sent: no customer "
            "receives a message, and the files hold their names, addresses and course dates "
            "(purge_message_bodies deletes them after MESSAGE_BODY_DAYS).",
            hint="Set EMAIL_HOST (and its user, password and TLS) to the company's mail "
            "server in the environment of the web app and the worker (README, Messages to "
            "customers).",
            id="registry.W004",
        )
    ]
