"""The record of processing activities (GDPR art. 30, seloste
käsittelytoimista), written from the settings and the system's facts so that
the register manager never keeps it by hand. Markdown text in the interface
language, or a PDF document in Finnish or English (the layout of the access
report, registry.rights.documents)."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from registry.accounts.roles import GRANTS
from registry.models import Customer, MarketingChannel
from registry.notice import processors, register_content
from registry.rights.documents import Document, Section, document_pdf
from registry.roles import ROLE_LABELS


def processing_record():
    """The record as a list of (heading, [lines]) sections."""
    controller = settings.REGISTER_CONTROLLER
    contact = settings.REGISTER_CONTACT_PERSON
    roles = dict(
        Group.objects.filter(name__in=list(GRANTS))
        .annotate(users=Count("user", filter=Q(user__is_active=True)))
        .values_list("name", "users")
    )
    customers = Customer.objects.count()
    listed = processors()
    processor_lines = [
        _(
            "Processor (GDPR art. 28, on the controller's instructions under a data processing "
            "agreement): %(name)s, %(country)s: %(purpose)s."
        )
        % {"name": processor.name, "country": processor.country_name, "purpose": processor.purpose}
        for processor in listed
    ] or [_("No processors are listed (REGISTER_PROCESSORS).")]
    transfer_lines = [
        _("%(name)s, %(country)s: %(safeguard)s.")
        % {
            "name": processor.name,
            "country": processor.country_name,
            "safeguard": processor.safeguard,
        }
        for processor in listed
        if processor.outside_eu_eea
    ] or [_("None.")]
    return [
        (
            _("Controller"),
            [
                f"{controller['name']}, {controller['street']}, "
                f"{controller['postal_code']} {controller['city']}",
                _("Business ID: %(id)s") % {"id": controller["business_id"]},
                _("Contact person for the register: %(name)s, %(phone)s, %(email)s") % contact,
            ],
        ),
        (
            _("Name of the register"),
            [_("%(name)s customer register") % {"name": controller["name"]}],
        ),
        (
            _("Purposes of the processing"),
            [
                _(
                    "Maintaining the customer register; archiving and processing the participant "
                    "lists of courses."
                ),
                _(
                    "Own direct marketing by post and phone, unless the customer objected "
                    "(opt-out)."
                ),
                _(
                    "Electronic direct marketing (%(channels)s) only with the customer's consent "
                    "(opt-in)."
                )
                % {
                    "channels": ", ".join(
                        [str(MarketingChannel.EMAIL.label), str(MarketingChannel.SMS.label)]
                    )
                },
                _(
                    "Answering the data subject's requests: access, rectification, erasure, "
                    "objection, restriction."
                ),
            ],
        ),
        (
            _("Categories of data subjects"),
            [
                _(
                    "Customers: people who asked for information, registered in the web service, "
                    "or enrolled in courses or bought services (%(count)s today)."
                )
                % {"count": customers},
                _("Users of the register (staff), for the audit trail."),
            ],
        ),
        (
            _("Categories of personal data"),
            # What the privacy notice tells the customer, word for word.
            register_content(),
        ),
        (
            _("Recipients"),
            [
                *processor_lines,
                _(
                    "Nobody else outside %(name)s. Data is disclosed only under a legal "
                    "obligation, such as at the customer's own request or an authority's "
                    "request based on law."
                )
                % {"name": controller["name"]},
            ],
        ),
        (_("Transfers outside the EU/EEA"), transfer_lines),
        (
            _("Retention periods"),
            [
                _(
                    "A customer is erased after %(months)s months without activity (no change, "
                    "consent event or enrolment), unless a request is open or a course is coming "
                    "(manage.py retention)."
                )
                % {"months": settings.RETENTION_MONTHS},
                # As the privacy notice says: an exception to the period above.
                _(
                    "A customer whose processing is restricted (GDPR art. 18) is not erased when "
                    "that period has passed: the data is kept, only stored, until the "
                    "restriction is lifted, and erased after that by the same rule."
                ),
                _(
                    "Enrolments and requests stay without the person after an erasure, for "
                    "statistics and as proof of the answer."
                ),
                _(
                    "Backups, on the server and at the off-site copy: the newest of each of the "
                    "last %(daily)s days and of the last %(monthly)s months, none for longer "
                    "(backup --prune; the off-site copy follows with rsync --delete); an erasure "
                    "is applied again after a restore."
                )
                % {"daily": settings.BACKUP_KEEP_DAILY, "monthly": settings.BACKUP_KEEP_MONTHLY},
                _(
                    "The texts of messages to customers: %(days)s days (manage.py "
                    "purge_message_bodies); who got what kind of message when stays with the "
                    "customer's data."
                )
                % {"days": settings.MESSAGE_BODY_DAYS},
                _("The rejected rows of an import: %(days)s days.")
                % {"days": settings.IMPORT_UNDO_DAYS},
                _(
                    "The audit trail: its events as long as the register; the search words, "
                    "cities typed in the customer list's filter, user names typed at the login "
                    "and IP addresses in them, and the login records, %(months)s months "
                    "(manage.py prune_logs)."
                )
                % {"months": settings.AUDIT_KEEP_MONTHS},
            ],
        ),
        (
            _("Technical and organisational safeguards"),
            [
                _(
                    "Personal user names and passwords; two-factor authentication for register "
                    "managers; accounts without a login for %(days)s days are deactivated."
                )
                % {"days": settings.DORMANT_DAYS},
                _("Roles: %(roles)s.")
                % {
                    "roles": "; ".join(
                        _("%(role)s %(users)s users")
                        % {"role": ROLE_LABELS[name], "users": roles.get(name, 0)}
                        for name in GRANTS
                    )
                },
                _(
                    "Repeated failed logins lock the account (%(failures)s within %(minutes)s "
                    "minutes)."
                )
                % {
                    "failures": settings.ACCOUNT_LOCK_FAILURES,
                    "minutes": settings.ACCOUNT_LOCK_WINDOW_MINUTES,
                },
                _(
                    "Every read, change and export of customer data is recorded in an "
                    "append-only audit trail; unusual activity (more than %(count)s records in "
                    "an hour) is flagged."
                )
                % {"count": settings.UNUSUAL_ACTIVITY_PER_HOUR},
                _("Backups are encrypted and verified by restoring them."),
                _("Encrypted connections (HTTPS) only; no printing of logged-in pages."),
            ],
        ),
    ]


def _title():
    return _("Record of processing activities (GDPR article 30)")


def _generated():
    return _("%(name)s · generated %(when)s from the register's settings and data.") % {
        "name": settings.REGISTER_CONTROLLER["name"],
        "when": date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
    }


def processing_record_markdown():
    lines = ["# " + _title(), "", _generated()]
    for heading, items in processing_record():
        lines += ["", f"## {heading}", ""]
        lines += [f"- {item}" for item in items]
    return "\n".join(lines) + "\n"


#: The languages the record is written in as a document; Finnish first.
DOCUMENT_LANGUAGES = ("fi", "en")


def processing_record_pdf(language="fi"):
    """The record as PDF bytes in `language` (one of DOCUMENT_LANGUAGES)."""
    with translation.override(language):
        document = Document(
            title=_title(),
            introduction=_generated(),
            sections=[
                Section(str(heading), items=[str(item) for item in items])
                for heading, items in processing_record()
            ],
            language=language,
        )
    return document_pdf(document)
