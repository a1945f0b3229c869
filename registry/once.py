"""Forms that save once per page: the same page sent twice (a double click,
the browser's "send again", two posts in parallel) saves one thing, and the
second post is told so (README, *A form sent twice*).

A form takes `OnceFormMixin`: its page carries a signed one-time token. The
view takes a `Once` for the post in the transaction that saves; the key is the
token together with what the page holds, so the same page edited after Back
and sent again is a new save. A post without a token the server gave within
the day (made by hand, changed, or a page left open since yesterday) saves
nothing: the view shows the page again, with what was typed and a new token."""

import hashlib
import json
import secrets

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.shortcuts import redirect

#: How long a page's token is good for, and how long a saved page remembers
#: what it saved: a second post of the same page finds it.
SUBMISSION_SECONDS = 24 * 60 * 60


class TokenField(forms.CharField):
    """The page's token. Cleans to its random part when the server signed it
    within the day, to "" for none, a made-up, changed or expired one: never
    an error, as the user could not correct a hidden field."""

    widget = forms.HiddenInput

    def __init__(self, *, signer, **kwargs):
        super().__init__(required=False, **kwargs)
        self.signer = signer

    def clean(self, value):
        if not isinstance(value, str) or not value or len(value) > 200:
            return ""
        try:
            return self.signer.unsign(value, max_age=SUBMISSION_SECONDS)
        except signing.BadSignature:  # made up, changed, or expired
            return ""


class OnceFormMixin:
    """A form whose page saves once (see the module). `once_name` names the
    form: the salt of its tokens (one form's token is none on another) and
    the prefix of its keys. A new (unbound) form carries a token; the form is
    made again from its data alone (`with_new_token`)."""

    once_name = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["submission"] = TokenField(signer=self.signer())
        if not self.is_bound:
            self.initial = {"submission": self.new_token(), **self.initial}

    @classmethod
    def signer(cls):
        return signing.TimestampSigner(salt=f"registry.once.{cls.once_name}")

    @classmethod
    def new_token(cls):
        return cls.signer().sign(secrets.token_urlsafe(24))

    @property
    def token(self):
        """The posted token's random part, "" without one the server gave."""
        if not self.is_bound:
            return ""
        field = self.fields["submission"]
        name = self.add_prefix("submission")
        return field.clean(field.widget.value_from_datadict(self.data, self.files, name))

    @property
    def has_token(self):
        """The page carries a token the server gave it (within the day)."""
        return bool(self.token)

    def with_new_token(self):
        """The same page, as it was posted, with a token of its own."""
        data = self.data.copy()
        data[self.add_prefix("submission")] = self.new_token()
        return type(self)(data)

    def page_values(self):
        """What the page holds, as posted, field by field (the token aside)."""
        return {
            name: field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
            for name, field in self.fields.items()
            if name != "submission"
        }


class Once:
    """One post of a page whose form takes OnceFormMixin (with a token: check
    `form.has_token` first). The same page sent twice has one key; the page
    edited after Back and sent again has another. The token as typed never
    becomes a key."""

    def __init__(self, request, form):
        content = json.dumps(
            [request.path, form.token, form.page_values()],
            cls=DjangoJSONEncoder,
            sort_keys=True,
        )
        digest = hashlib.sha256(content.encode()).hexdigest()
        self.key = f"once:{form.once_name}:{request.user.pk}:{digest}"

    def take(self):
        """Call in the transaction that saves: True for the page's first post.
        The key is a row of the cache table in the same database: a second
        post of the same page waits here for the first's transaction, then
        finds the key taken; a save that fails gives it back."""
        return cache.add(self.key, "", SUBMISSION_SECONDS)

    def saved(self, value):
        """Remember what the first post saved (a primary key, a count)."""
        cache.set(self.key, value, SUBMISSION_SECONDS)

    def earlier(self):
        """What the page's first post saved, or None while none has."""
        value = cache.get(self.key)
        return None if value in (None, "") else value

    def answer_if_sent_again(self, request, note, *, found_in=None, otherwise):
        """Take the key (call in the transaction that saves, before saving):
        None for the page's first post, which goes on to save and then calls
        `saved`. For the same page sent again, the answer: `note` told, and
        a redirect to what the first post saved, looked up by the value it
        remembered in `found_in` (a queryset of what the user may see), or
        to `otherwise` when there is none (or nothing to look up)."""
        if self.take():
            return None
        return self.answer(request, note, found_in=found_in, otherwise=otherwise)

    def answer(self, request, note, *, found_in=None, otherwise):
        """The answer to the same page sent again (see answer_if_sent_again),
        for a page that knows it before taking the key."""
        messages.info(request, note)
        earlier = None if found_in is None else found_in.filter(pk=self.earlier()).first()
        return redirect(earlier or otherwise)
