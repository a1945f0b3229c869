from django.urls import path

from . import views

app_name = "courses"

urlpatterns = [
    path("courses/", views.CourseListView.as_view(), name="course-list"),
    path("courses/new/", views.CourseCreateView.as_view(), name="course-create"),
    path("courses/<int:pk>/", views.course_detail, name="course-detail"),
    path("courses/<int:pk>/edit/", views.CourseUpdateView.as_view(), name="course-update"),
    path("courses/<int:pk>/enroll/", views.enroll, name="enroll"),
    path("courses/<int:pk>/enrollments/<int:enrollment_pk>/cancel/", views.cancel, name="cancel"),
    path("courses/<int:pk>/attendance/", views.attendance, name="attendance"),
    path("courses/<int:pk>/export/", views.export, name="export"),
]
