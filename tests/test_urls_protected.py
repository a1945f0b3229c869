"""No view can be added to the project unprotected.

Every URL pattern is visited anonymously; all but the public ones must send the
visitor to the login page. A new public page has to be added to PUBLIC on
purpose, in review.
"""

from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from .urlwalk import walk

PUBLIC = {
    "home",  # the privacy notice with the login form
    "privacy-notice",
    "login",
    "set_language",  # anonymous visitors choose the notice's language
    "admin-login",  # forwards to our login page
    "admin:jsi18n",  # admin's translation catalogue, not data
}


def all_urls():
    return sorted(set(walk()))


def test_the_walk_finds_the_views():
    names = {name for name, _ in all_urls()}
    assert {"home", "login", "logout", "password_change", "admin:index"} <= names
    assert len(names) > 30  # admin alone has dozens


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "url"), all_urls(), ids=lambda value: str(value))
def test_anonymous_visitor_is_sent_to_login(client, name, url):
    response = client.get(url)
    if name in PUBLIC:
        assert response.status_code in {200, 302, 405}
        return
    assert response.status_code == 302, f"{url} answered {response.status_code}"
    target = urlsplit(response.url).path
    assert target in {reverse("login"), reverse("admin-login")}, f"{url} -> {response.url}"
