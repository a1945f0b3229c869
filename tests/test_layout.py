"""The direction of the imports between the parts of the product.

- `courses` imports `registry`, never the reverse;
- `balansia`, the shell (settings, urls, front page), is imported by no app;
- `balansia.devtools` (benchmarks, demo data) by nothing of the product;
- the audit trail is the lowest layer: its models, services, selectors and
  erasure handler import nothing of the register but building blocks;
- the core (models, services, the audit trail) does not import `accounts`;
- the core (the modules at the top of `registry`) does not import `rights`,
  nor `marketing` beyond the uses listed below: the concerns register into
  it (merge listeners, erasure handlers, kinds of journal entries);
- `rights` and `marketing` do not import each other;
- no two modules of the register import each other at module level, however
  long the way round.

Read from the source with `ast`, imports inside functions included (there are
none but manage.py's, and ruff's PLC0415 keeps it so).
"""

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("registry", "courses", "balansia")

#: Modules of the register that import none of its concerns: any layer may use them.
BUILDING_BLOCKS = {
    "registry.roles",
    "registry.changes",
    "registry.erasure",
    "registry.exports",
    "registry.journal",
    "registry.merge",
    "registry.phones",
    "registry.query_forms",
    "registry.reach",
    "registry.repairs",
    "registry.xlsx",
}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules():
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            yield module_name(path), path


@functools.cache
def module_names():
    """The product's module names (walked once, not once per module read: each
    test here took five seconds)."""
    return frozenset(name for name, _path in modules())


def imported_by(name, path, *, module_level_only=False):
    """The product modules `name` imports (`from . import x` resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module
            found.add(source)
            # `from registry import backups` imports the module registry.backups.
            found |= {f"{source}.{alias.name}" for alias in node.names}
    return found & module_names()


@functools.cache
def edges(*, module_level_only=False):
    """Each product module's imports (read once per test process; the tests
    only read the answer)."""
    return {
        name: imported_by(name, path, module_level_only=module_level_only)
        for name, path in modules()
    }


def within(name, package):
    return name == package or name.startswith(package + ".")


def test_registry_never_imports_courses():
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if within(name, "registry")
        for target in targets
        if within(target, "courses")
    }
    assert wrong == set()


def test_no_app_imports_the_shell():
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if within(name, "registry") or within(name, "courses")
        for target in targets
        if within(target, "balansia")
    }
    assert wrong == set()


def test_nothing_of_the_product_imports_the_devtools():
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if not within(name, "balansia.devtools")
        for target in targets
        if within(target, "balansia.devtools")
    }
    assert wrong == set()


def test_the_audit_trail_is_the_lowest_layer():
    lowest = ("models", "services", "selectors", "erasure", "admin")
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if name in {f"registry.audit.{part}" for part in lowest}
        for target in targets
        if within(target, "registry")
        and not within(target, "registry.audit")
        and target not in BUILDING_BLOCKS
        and target != "registry"
    }
    assert wrong == set()


def models_named(path):
    """The models a module looks up by a name written in it:
    `apps.get_model("registry", "Customer")` or `apps.get_model("registry.Customer")`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    named = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get_model"
            and node.args
            and all(isinstance(arg, ast.Constant) for arg in node.args)
        ):
            named.add(".".join(str(arg.value) for arg in node.args))
    return named


def test_the_audit_trail_does_not_look_up_the_registers_models_by_name():
    """An import the walk above cannot see: the trail's lowest modules take
    what they need of a customer from their caller (a customer, or a
    CustomerKey with the moment it was added), instead of asking Django for
    registry.Customer (AuditEventQuerySet.whole_register_exports did)."""
    lowest = ("models", "services", "selectors", "erasure", "admin")
    known = dict(modules())
    wrong = {
        (name, model)
        for name in (f"registry.audit.{part}" for part in lowest)
        for model in models_named(known[name])
        if model.casefold().startswith("registry")
    }
    assert wrong == set()
    assert models_named(ROOT / "registry/migrations/0021_import_preview_rows.py") == {
        "registry.CustomerImport"
    }


def test_the_core_does_not_import_accounts():
    """The audit trail, the consent ledger and the services record the
    actor's role: its codes live in the core (registry.roles), so the core
    does not lean on the accounts package (review finding: it did, for
    `role_code`)."""
    core = {"registry.models", "registry.services", "registry.roles", "registry.imports.writing"}
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if name in core or (within(name, "registry.audit") and name != "registry.audit.views")
        for target in targets
        if within(target, "registry.accounts")
    }
    assert wrong == set()


#: The modules at the top of `registry` that stand above the concerns, not
#: under them: the app's URLs mount each concern's; its pages (the customer
#: page's edit takes a rectification case); the backups, a concern of their
#: own (DESIGN.md), whose restore re-applies every concern's journal in order.
ABOVE_THE_CONCERNS = {"registry.urls", "registry.views", "registry.backups"}

#: What the core still imports of the marketing lists: their own models (who
#: was on which list, the suppression list) for the marketing list services
#: and the suppression list, and the journal of the narrowing consents that
#: consent_record appends to. Only to shrink: moving the marketing list
#: services and the suppression list into registry.marketing, and a listener
#: for recorded consents, would empty it.
CORE_USES_OF_MARKETING = {
    ("registry.services", "registry.marketing.journal"),
    ("registry.services", "registry.marketing.models"),
    ("registry.suppression", "registry.marketing.models"),
}


def test_the_core_does_not_import_the_rights_or_the_marketing_lists():
    """The modules at the top of `registry` are the core the concerns import:
    the concerns register what they add to it (review finding: the core's
    merge imported registry.rights.restriction to journal the kept record's
    restriction; a merge listener does it now)."""
    core = {
        name
        for name, path in modules()
        if path.parent == ROOT / "registry" and name not in ABOVE_THE_CONCERNS
    }
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if name in core
        for target in targets
        # Nor by the way round, through a module above the concerns.
        if within(target, "registry.rights")
        or within(target, "registry.marketing")
        or target in ABOVE_THE_CONCERNS
    }
    assert wrong == CORE_USES_OF_MARKETING


def test_the_rights_and_the_marketing_lists_do_not_import_each_other():
    """Two concerns side by side, each over the core: the access report names
    a marketing list's channel by the core's MarketingChannel and reads the
    customer's lists through the relation (review finding: it imported
    registry.marketing.models for the channel's words)."""
    pairs = (("registry.rights", "registry.marketing"), ("registry.marketing", "registry.rights"))
    wrong = {
        (name, target)
        for name, targets in edges().items()
        for source, other in pairs
        if within(name, source)
        for target in targets
        if within(target, other)
    }
    assert wrong == set()


def test_building_blocks_import_no_concern():
    wrong = {
        (name, target)
        for name, targets in edges().items()
        if name in BUILDING_BLOCKS
        for target in targets
        if within(target, "registry") and target not in BUILDING_BLOCKS | {"registry"}
    }
    assert wrong == set()


def test_no_import_circle_inside_the_register():
    graph = {
        name: {t for t in targets if within(t, "registry") and t != name}
        for name, targets in edges(module_level_only=True).items()
        if within(name, "registry")
    }
    circles = []

    def visit(node, trail):
        for target in sorted(graph.get(node, ())):
            if target in trail:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                visit(target, [*trail, target])
        done.add(node)

    done = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    # A package's __init__ importing nothing, `registry` itself is no edge.
    circles = [c for c in circles if "registry" not in c]
    assert circles == []


def test_the_walk_sees_the_imports():
    """The checks above would pass on an empty graph: this one would not."""
    graph = edges()
    assert "registry.models" in graph["courses.models"]
    assert "registry.audit.models" in graph["registry.models"]
    assert "registry.accounts.reauth" in graph["registry.views"]
