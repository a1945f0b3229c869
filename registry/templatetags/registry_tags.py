from django import template

from registry.phones import format_phone

register = template.Library()


@register.filter
def phone(value):
    """A stored E.164 number as people read it: `040 1234567` for Finnish numbers."""
    return format_phone(value)


@register.simple_tag
def page_url(query_string, page_number):
    """A page link that keeps the search and filters."""
    prefix = f"{query_string}&" if query_string else ""
    return f"?{prefix}page={page_number}"
