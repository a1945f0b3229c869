"""Every URL pattern of the project, with a sample path that resolves to it.

Used by the permission tests so that a view added without a rule fails them.
"""

import re

from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern

SAMPLES = {"int": "1", "str": "x", "slug": "x", "uuid": "00000000-0000-0000-0000-000000000001"}


def _sample_route(route):
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), route)


def _sample_regex(regex):
    """A string that the small regexes of Django's admin URLs match."""

    def group(match):
        body = match.group(2)
        if "|" in body:
            return body.split("|")[0].strip("()")
        return "1" if "\\d" in body else "x"

    text = re.sub(r"\(\?P<(\w+)>((?:[^()]|\([^()]*\))*)\)", group, regex)
    text = text.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    return text


def _sample(pattern):
    if isinstance(pattern, RoutePattern):
        return _sample_route(str(pattern))
    if isinstance(pattern, RegexPattern):
        return _sample_regex(pattern.regex.pattern)
    raise TypeError(pattern)


def walk(patterns=None, prefix=""):
    """Yield (name, path) for every view of the URLconf."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        path = prefix + _sample(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, path)
        elif isinstance(entry, URLPattern):
            url = "/" + path
            try:
                match = resolve(url)
            except Resolver404:
                raise AssertionError(
                    f"The sample {url!r} of {entry!r} resolves nowhere; "
                    "teach tests/urlwalk.py its shape."
                ) from None
            # A pattern shadowed by an earlier one (admin's login by ours) is
            # reported as the view that really answers.
            yield match.view_name or match._func_path, url
