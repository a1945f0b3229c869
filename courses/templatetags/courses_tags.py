from django import template

from courses.models import Course

register = template.Library()


@register.simple_tag
def customer_courses(customer):
    """A customer's course history for the customer page (one query)."""
    return customer.enrollments.select_related("course").order_by("-course__starts_at")


@register.simple_tag
def upcoming_courses(user, limit=8):
    """The next courses the user may see, with places taken, for the dashboard."""
    return list(Course.objects.visible_to(user).upcoming().with_counts()[:limit])
