from django import template
from django.db.models import Count, IntegerField, OuterRef, Subquery

from courses.models import Attendance, Course, Session

register = template.Library()


@register.simple_tag
def customer_courses(customer):
    """A customer's course history for the customer page, with how many
    sessions they came to of those held or planned ("7/10"). One query."""
    came = (
        Attendance.objects.filter(enrollment=OuterRef("pk"), status=Attendance.Status.CAME)
        .values("enrollment")
        .annotate(n=Count("id"))
        .values("n")
    )
    sessions = (
        Session.objects.filter(course=OuterRef("course"), is_cancelled=False)
        .values("course")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        customer.enrollments.select_related("course")
        .annotate(
            came=Subquery(came, output_field=IntegerField()),
            sessions=Subquery(sessions, output_field=IntegerField()),
        )
        .order_by("-course__starts_at")
    )


@register.simple_tag
def upcoming_courses(user, limit=8):
    """The next courses the user may see, with places taken, for the dashboard."""
    return list(Course.objects.visible_to(user).upcoming().with_counts()[:limit])


@register.simple_tag
def customer_messages(customer, limit=50):
    """A customer's latest messages for the customer page (one query)."""
    return list(customer.messages.select_related("course")[:limit])
