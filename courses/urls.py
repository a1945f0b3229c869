from django.urls import path

from . import report_views, views

app_name = "courses"

urlpatterns = [
    path("courses/", views.CourseListView.as_view(), name="course-list"),
    path("courses/new/", views.CourseCreateView.as_view(), name="course-create"),
    path("courses/<int:pk>/", views.course_detail, name="course-detail"),
    path("courses/<int:pk>/edit/", views.CourseUpdateView.as_view(), name="course-update"),
    path("courses/<int:pk>/enroll/", views.enrollment_create_view, name="enrollment-create"),
    path(
        "courses/<int:pk>/enrollments/<int:enrollment_pk>/cancel/",
        views.enrollment_cancel_view,
        name="enrollment-cancel",
    ),
    path("courses/<int:pk>/attendance/", views.attendance_mark_view, name="attendance-mark"),
    path("courses/<int:pk>/export/", views.participant_export_view, name="participant-export"),
    path("reports/courses/", report_views.course_report, name="report-courses"),
]
