"""The stock Django admin the benchmark compares against (`manage.py bench`).

Defined here, apart from our own admin, so that the comparison stays honest
whatever our admin does: a separate AdminSite with plain ModelAdmins, as a
Django user would write them.
"""

from django.contrib import admin
from django.urls import path

from balansia.urls import urlpatterns as project_urlpatterns
from courses.models import Enrollment
from registry.models import Customer

site = admin.AdminSite(name="stockadmin")


@admin.register(Customer, site=site)
class StockCustomerAdmin(admin.ModelAdmin):
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_filter = ["city"]
    list_display = ["first_name", "last_name", "email", "phone", "city"]
    list_per_page = 50


@admin.register(Enrollment, site=site)
class StockEnrollmentAdmin(admin.ModelAdmin):
    list_display = ["customer", "course", "status"]
    list_filter = ["course"]
    list_per_page = 500


urlpatterns = [*project_urlpatterns, path("stock-admin/", site.urls)]
