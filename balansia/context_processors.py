from django.conf import settings


def register(request):
    """The controller's details, for the privacy notice and the page footer."""
    return {
        "controller": settings.REGISTER_CONTROLLER,
        "register_contact": settings.REGISTER_CONTACT_PERSON,
        "notice_updated": settings.PRIVACY_NOTICE_UPDATED,
        "retention_months": settings.RETENTION_MONTHS,
    }
