"""What the tests of restores share (the backup key is the `backup_key`
fixture of tests/conftest.py)."""

from django.core.management import call_command


def restore(path, capsys=None):
    """Restore the backup `path` over the register, as `manage.py restore
    --force` does; its output when `capsys` is given."""
    call_command("restore", str(path), "--force")
    return capsys.readouterr().out if capsys else None
