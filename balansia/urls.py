from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from registry.accounts.views import admin_login

from . import views
from .views import AdminJavaScriptCatalog

urlpatterns = [
    path("", views.home, name="home"),
    path("privacy/", views.privacy_notice, name="privacy-notice"),
    path("accounts/", include("registry.accounts.urls")),
    # Anonymous visitors of the public notice choose its language too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    # One login page for everybody, throttled and audited: admin uses ours.
    path("admin/login/", admin_login, name="admin-login"),
    # Admin's JavaScript texts, with the Finnish ones Django's own catalog lacks.
    path("admin/jsi18n/", AdminJavaScriptCatalog.as_view(), name="admin-jsi18n"),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("", include("courses.urls")),
]
