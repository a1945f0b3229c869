from django.conf import settings

from registry.accounts.middleware import menu_open


def menu(request):
    """Whether the menu leads anywhere: not before the second factor or a forced
    password change, when every link would be refused."""
    return {"menu_open": menu_open(request)}


def register(request):
    """The controller's details, for the privacy notice and the page footer."""
    return {
        "controller": settings.REGISTER_CONTROLLER,
        "register_contact": settings.REGISTER_CONTACT_PERSON,
        "notice_updated": settings.PRIVACY_NOTICE_UPDATED,
        "retention_months": settings.RETENTION_MONTHS,
        "audit_keep_months": settings.AUDIT_KEEP_MONTHS,
    }
