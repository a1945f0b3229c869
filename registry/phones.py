"""Phone numbers as the register stores and shows them."""

import phonenumbers
from django.conf import settings


def parse_phone(text):
    """The E.164 form of a phone number typed in any common way, or None."""
    try:
        number = phonenumbers.parse(text, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_digits(e164):
    """`+358401234567` -> `0401234567`: the digits people type for a Finnish number."""
    if not e164:
        return ""
    text = str(e164)
    if text.startswith("+358"):
        # Without parsing (an import derives this for 50,000 numbers): a
        # Finnish number is written with a trunk 0; a test checks the library.
        return "0" + text[4:]
    number = phonenumbers.parse(text)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdigit())


#: Finnish mobile prefixes (+358 4x, +358 50): libphonenumber writes them as
#: `0` + the two-digit prefix, a space, and the rest, for E.164 texts of
#: these lengths (shortest, longest).
FINNISH_MOBILE = ("+3584", "+35850")
FINNISH_MOBILE_LENGTHS = (11, 14)


def e164_text(value):
    """The E.164 text of a stored number (a PhoneNumber or its text). A
    PhoneNumber's own str() validates the number against libphonenumber's
    metadata first, about a fifth of a millisecond each: a page of 50
    customers spent more on that than on its SQL. A stored number was
    validated when it was saved, so its parts are put together as E.164
    does (a number with a significant leading zero is left to the library)."""
    if isinstance(value, phonenumbers.PhoneNumber):
        if not value.national_number:
            return ""
        if value.country_code and not value.italian_leading_zero:
            return f"+{value.country_code}{value.national_number}"
    return "" if value is None else str(value)


def format_phone(e164):
    """Finnish numbers as `040 1234567`, others in international form."""
    text = e164_text(e164)
    if not text:
        return ""
    shortest, longest = FINNISH_MOBILE_LENGTHS
    if text.startswith(FINNISH_MOBILE) and shortest <= len(text) <= longest:
        # The common case without parsing (a whole-register export formats
        # 200,000 numbers); a test checks it against the library.
        return f"0{text[4:6]} {text[6:]}"
    try:
        number = phonenumbers.parse(text)
    except phonenumbers.NumberParseException:
        # Not E.164: the phone field keeps an invalid number as typed when it
        # is saved past validation (update()). Shown as stored, not a crash of
        # every list, export and document that shows it.
        return text
    if phonenumbers.region_code_for_number(number) == settings.PHONENUMBER_DEFAULT_REGION:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
