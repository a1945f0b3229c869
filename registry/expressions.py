"""Query expressions that Django does not have."""

import json

from django.db import NotSupportedError, models


class _OfOneExpression(models.Expression):
    """An expression computed from one other expression, `self.expression`."""

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs):
        (self.expression,) = exprs

    def resolve_expression(self, *args, **kwargs):
        resolved = self.copy()
        resolved.expression = self.expression.resolve_expression(*args, **kwargs)
        return resolved


class OneOf(_OfOneExpression):
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

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        return f"{sql} = ANY(%s)", [*params, self.values]

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        # The SQL is a compiled expression; the values are one parameter.
        sql = f"{sql} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        return sql, [*params, json.dumps(self.values)]


class JSONObjectPatch(_OfOneExpression):
    """A JSON object with the texts of `replace` set at their keys and those
    of `add` set where the key is missing, in SQL (one UPDATE of any number
    of rows, not a read and a write of each). A value that is not an object
    (a list, a text, a number: nothing writes them, but a value from outside
    is not trusted) comes back as it was.

    A key of `replace` may be a path, a tuple of keys into nested objects
    (`("filters", "city")`): the value is set there if the object it is in
    exists (callers ask for the key first).

    PostgreSQL: `add || value || replace` (the right side of `||` wins), then
    `jsonb_set` for each path; SQLite: `json_set(json_insert(value, add...),
    replace...)`.
    """

    output_field = models.JSONField()

    def __init__(self, expression, *, replace=None, add=None):
        super().__init__()
        self.expression = models.F(expression) if isinstance(expression, str) else expression
        self.replace = {_path(key): str(value) for key, value in (replace or {}).items()}
        self.add = {_path(key): str(value) for key, value in (add or {}).items()}
        if any(len(key) > 1 for key in self.add):
            raise ValueError("`add` takes keys of the top object only.")

    def as_sql(self, compiler, connection):
        raise NotSupportedError(f"JSONObjectPatch is not written for {connection.vendor}.")

    def as_postgresql(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        top = {key[0]: value for key, value in self.replace.items() if len(key) == 1}
        nested = {key: value for key, value in self.replace.items() if len(key) > 1}
        parts, parts_params = [], []
        for values in ({key[0]: value for key, value in self.add.items()}, None, top):
            if values is None:
                parts.append(sql)
                parts_params += params
            elif values:
                pairs = ", ".join("%s::text, %s::text" for _ in values)
                parts.append(f"jsonb_build_object({pairs})")
                parts_params += [item for pair in values.items() for item in pair]
        patched = " || ".join(parts)
        for path, value in nested.items():
            patched = f"jsonb_set({patched}, %s::text[], to_jsonb(%s::text), false)"
            parts_params += [list(path), value]
        return (
            f"CASE WHEN jsonb_typeof({sql}) = 'object' THEN {patched} ELSE {sql} END",
            [*params, *parts_params, *params],
        )

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.expression)
        patched, patched_params = sql, list(params)
        for function, values in (("json_insert", self.add), ("json_set", self.replace)):
            if values:
                pairs = ", ".join("%s, %s" for _ in values)
                patched = f"{function}({patched}, {pairs})"
                patched_params += [
                    item for key, value in values.items() for item in (_json_path(key), value)
                ]
        return (
            f"CASE WHEN json_type({sql}) = 'object' THEN {patched} ELSE {sql} END",
            [*params, *patched_params, *params],
        )


def _path(key):
    """A key of the top object, or a path of keys, as a tuple of texts."""
    return tuple(str(part) for part in key) if isinstance(key, tuple) else (str(key),)


def _json_path(path):
    """SQLite's path of a tuple of keys, each quoted (a key may hold a dot)."""
    return "$" + "".join("." + json.dumps(key) for key in path)
