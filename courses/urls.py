from django.urls import path

from . import message_views, report_views, session_views, views

app_name = "courses"

urlpatterns = [
    path("courses/", views.CourseListView.as_view(), name="course-list"),
    path("courses/new/", views.course_create_view, name="course-create"),
    path("courses/<int:pk>/", views.course_detail, name="course-detail"),
    path("courses/<int:pk>/edit/", views.CourseUpdateView.as_view(), name="course-update"),
    path("courses/<int:pk>/enroll/", views.enrollment_create_view, name="enrollment-create"),
    path(
        "courses/<int:pk>/enrollments/<int:enrollment_pk>/cancel/",
        views.enrollment_cancel_view,
        name="enrollment-cancel",
    ),
    path(
        "courses/<int:pk>/attendance/",
        session_views.attendance_grid_view,
        name="attendance-grid",
    ),
    path(
        "courses/<int:pk>/sessions/new/",
        session_views.session_create_view,
        name="session-create",
    ),
    path(
        "courses/<int:pk>/sessions/<int:session_pk>/edit/",
        session_views.session_update_view,
        name="session-update",
    ),
    path(
        "courses/<int:pk>/sessions/<int:session_pk>/cancel/",
        session_views.session_cancel_view,
        name="session-cancel",
    ),
    path(
        "courses/<int:pk>/sessions/<int:session_pk>/roll-call/",
        session_views.roll_call_view,
        name="roll-call",
    ),
    path("courses/<int:pk>/export/", views.participant_export_view, name="participant-export"),
    path(
        "customers/<int:pk>/enroll/",
        views.customer_enrollment_create_view,
        name="customer-enrollment-create",
    ),
    path("reports/courses/", report_views.course_report, name="report-courses"),
    path("courses/<int:pk>/message/", message_views.course_message_view, name="course-message"),
    path("messages/", message_views.outbox_view, name="outbox"),
    path("messages/<int:pk>/", message_views.message_detail_view, name="message-detail"),
    path(
        "messages/<int:pk>/send-again/",
        message_views.message_resend_view,
        name="message-resend",
    ),
]
