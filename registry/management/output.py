"""What the management commands print: plain English for the operator (cron's
mail, the system log), not the interface's language."""


def counted(count, one, many=None):
    """ "1 customer", "3 customers": `count` and the word for one or for
    several (`many`, by default `one` with an s)."""
    return f"{count} {one if count == 1 else many or one + 's'}"
