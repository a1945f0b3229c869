from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("privacy/", views.privacy_notice, name="privacy-notice"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/confirm/", views.reauthenticate, name="reauthenticate"),
    path("accounts/two-factor/", views.two_factor_verify_view, name="two-factor-verify"),
    path("accounts/two-factor/setup/", views.two_factor_setup_view, name="two-factor-setup"),
    # Anonymous visitors of the public notice choose its language too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    # One login page for everybody, throttled and audited: admin uses ours.
    path("admin/login/", views.admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("", include("courses.urls")),
]
