from django.core.exceptions import SuspiciousOperation
from django.utils.cache import patch_cache_control
from django.views.defaults import bad_request


class NoStoreForUsersMiddleware:
    """Forbid caching of every response to a logged-in user.

    Pages of a logged-in user may show personal data; neither the browser nor a
    proxy may keep a copy of them (the notice: the register is protected from
    outsiders, and the next person at a shared computer is an outsider).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, no_store=True, no_cache=True, private=True)
        return response


class RefuseNulMiddleware:
    """Answer 400 to a request with a NUL character in its address or form.

    No text of the register may hold one (PostgreSQL refuses it in text), and
    no person types one: it only ever comes from a crafted request, which
    would otherwise reach a query inside a view or Django admin and end as a
    500. Our own forms refuse it beside the field too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values)
            for source in (request.GET, request.POST)
            for key, values in source.lists()
        ):
            return bad_request(request, SuspiciousOperation("NUL in the request"))
        return self.get_response(request)
