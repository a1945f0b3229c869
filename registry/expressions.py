"""Query expressions that Django does not have."""

import json

from django.db import models


class OneOf(models.Expression):
    """A condition: `expression` is one of `values`, a list of texts passed as
    one parameter (on PostgreSQL `= ANY(array)`, on SQLite `IN` its JSON).

    For the tens of thousands of emails, phones and hashes an import looks up:
    Django's `__in` prepares every value of its list one by one, and the list
    must be cut into chunks that each cost a query (98 queries and 1.4 s to
    look up an import's 100,000 hashes in an empty table).
    """

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, expression, values):
        super().__init__()
        self.expression = expression
        self.values = [str(value) for value in values]

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def resolve_expression(self, *args, **kwargs):
        resolved = self.copy()
        resolved.expression = self.expression.resolve_expression(*args, **kwargs)
        return resolved

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return f"{sql} = ANY(%s)", [*params, self.values]

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        # The SQL is a compiled expression; the values are one parameter.
        sql = f"{sql} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        return sql, [*params, json.dumps(self.values)]
