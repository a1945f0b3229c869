"""The tests' password hasher: Argon2 (the same algorithm and stored format
as production's), at the lowest cost argon2 allows.

Production hashes with Django's Argon2PasswordHasher (100 MiB of memory,
eight lanes): about 0.2 s a hash, 0.6 s on a loaded two-core machine, and the
suite hashes or checks a password some 200 times (every login through the
login page, every password change). The settings themselves are tested as
they are (tests/test_settings.py), and the tests that race logins against the
lockout check with production's cost (tests/test_probe_holds.py).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher

#: Production's list, which the tests put FAST behind.
PRODUCTION = "django.contrib.auth.hashers.Argon2PasswordHasher"
FAST = "tests.hashers.FastArgon2PasswordHasher"


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 8  # KiB: argon2's least, eight per lane
    parallelism = 1
