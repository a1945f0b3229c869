"""Logging in and out, passwords and the second factor: addresses under
/accounts/ with names of their own (LOGIN_URL is "login"), included by the
root URLconf. The access review's pages are in the registry namespace
(`registry_urlpatterns`, included by registry/urls.py)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("confirm/", views.reauthenticate, name="reauthenticate"),
    path("two-factor/", views.two_factor_verify_view, name="two-factor-verify"),
    path("two-factor/setup/", views.two_factor_setup_view, name="two-factor-setup"),
]

registry_urlpatterns = [
    path("access-review/", views.access_review_view, name="access-review"),
    path(
        "access-review/<int:pk>/deactivate/",
        views.account_deactivate_view,
        name="account-deactivate",
    ),
    path(
        "access-review/<int:pk>/reactivate/",
        views.account_reactivate_view,
        name="account-reactivate",
    ),
]
