"""People who log in: roles and their grants, two-factor, re-authentication,
login and password views, the locks against guessing, and the access review."""
