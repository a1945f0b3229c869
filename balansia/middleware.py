from django.utils.cache import patch_cache_control


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
