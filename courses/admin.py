from django.contrib import admin

from .models import MessageSettings


@admin.register(MessageSettings)
class MessageSettingsAdmin(admin.ModelAdmin):
    """The register manager switches each automatic message on or off."""

    def has_add_permission(self, request):
        return False  # one row, made by the migration

    def has_delete_permission(self, request, obj=None):
        return False
