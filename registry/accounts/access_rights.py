"""Who may manage which accounts, and what they may hand out.

Superuser status bypasses every permission check of the register, so an
account that is not a superuser never sees, changes, deactivates or sets the
password of a superuser. And nobody gives anyone a permission they do not
hold themselves, directly or through a group: otherwise a register manager
could make an accomplice (or a second account of their own) more powerful
than they are.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q


def manageable(users, *, by):
    """The accounts among `users` (a queryset) that `by` may see and change:
    all for a superuser, every account but the superusers for anybody else."""
    return users if by.is_superuser else users.exclude(is_superuser=True)


def manageable_users(by):
    return manageable(get_user_model().objects.all(), by=by)


def grantable_permissions(by):
    """The permissions `by` may give to an account or a group: those they hold."""
    permissions = Permission.objects.all()
    if by.is_superuser:
        return permissions
    held = Q(pk__in=[])
    for name in by.get_all_permissions():
        app_label, codename = name.split(".", 1)
        held |= Q(content_type__app_label=app_label, codename=codename)
    return permissions.filter(held)


def grantable_groups(by):
    """The groups `by` may put an account into: those whose every permission
    `by` holds."""
    groups = Group.objects.all()
    if by.is_superuser:
        return groups
    beyond = Permission.objects.exclude(pk__in=grantable_permissions(by).values("pk"))
    return groups.exclude(permissions__in=beyond)
