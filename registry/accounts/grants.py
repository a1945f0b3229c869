"""Granting permissions to the role groups from data migrations.

Permissions are created by post_migrate, which has not run yet on a fresh
database, so they are created first. `grants` maps a group name to
"app_label.codename" strings. Used by data migrations through `apps`, so it
must keep working with historical models: it touches only Group and Permission.
"""

from django.contrib.auth.management import create_permissions


def _permissions(apps, names):
    Permission = apps.get_model("auth", "Permission")
    for name in names:
        app_label, codename = name.split(".")
        yield Permission.objects.get(content_type__app_label=app_label, codename=codename)


def grant(apps, grants):
    for app_config in apps.get_app_configs():
        # create_permissions skips an app without models_module, which is how
        # historical app configs look; put the original value back afterwards.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        try:
            create_permissions(app_config, verbosity=0)
        finally:
            app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    for group_name, names in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions(apps, names))


def revoke(apps, grants):
    Group = apps.get_model("auth", "Group")
    for group_name, names in grants.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, names))
