"""The import rules of the README's layout section, read from the source (no Django needed).

Every import counts, also one inside a function: a lazy import that dodges a circle is
still a circle. Imports under `if TYPE_CHECKING:` do not run and are left out.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("apps", "worker", "cli")
# What the web process may not import: the engine runs in the workers only. It sends tasks
# through worker.dispatch and reads datasets with worker.readers.
ENGINE = (
    "worker.celery",
    "worker.tasks",
    "worker.planning",
    "worker.progress",
    "worker.shards",
    "worker.finishing",
    "worker.reaper",
    "worker.scheduler",
    "worker.paths",
    "worker.messages",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(path: Path) -> Iterator[str]:
    """The module each import of `path` loads: `from worker import dispatch` is the module
    worker.dispatch, `from worker.runners import ModelRef` the package worker.runners."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    known = modules()

    def visit(node: ast.AST) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from visit(other)
                continue
            if isinstance(child, ast.Import):
                yield from (alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    stem = package[: len(package) - child.level + 1]
                    base = ".".join([*stem, base] if base else stem)
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    yield submodule if submodule in known else base
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))


@cache
def imports() -> dict[str, set[str]]:
    """Project module → the project modules it imports (not their parent packages, which
    Python runs first but which import nothing back)."""
    known = modules()
    return {
        module: {name for name in _imported_names(path) if name in known and name != module}
        for module, path in known.items()
    }


@cache
def outside_imports(module: str) -> frozenset[str]:
    """Top-level names of the packages outside the project that `module` imports."""
    return frozenset(
        name.split(".")[0]
        for name in _imported_names(modules()[module])
        if name.split(".")[0] not in PACKAGES
    )


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in imports()[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    graph = imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_graph_sees_lazy_and_relative_imports():
    # The checks below are only as good as the graph: it must see imports inside
    # functions and resolve `from worker import dispatch` to the module.
    assert "worker.dispatch" in imports()["apps.jobs.services"]
    assert "worker.finishing" in imports()["worker.tasks"]
    assert "worker.runners.memory" in imports()["worker.celery"]  # inside a signal handler


def test_no_import_cycles():
    found = cycles()
    assert found == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_the_web_never_imports_the_engine():
    offending = {
        module: sorted(t for t in targets if t in ENGINE)
        for module, targets in imports().items()
        if module.startswith("apps.") and any(t in ENGINE for t in targets)
    }
    assert offending == {}


def test_tasks_are_sent_by_name_through_dispatch_alone():
    # dispatch sends by name: it imports none of the modules that run the tasks.
    assert imports()["worker.dispatch"] == {"worker.celery"}
    for module, path in modules().items():
        if module == "worker.dispatch":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        sends = [
            f"{module}:{node.lineno} .{node.func.attr}()"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr
            in {"delay", "apply_async", "delay_on_commit", "apply_async_on_commit", "send_task"}
        ]
        assert sends == [], "send tasks with worker.dispatch"


PURE = (
    "worker.runners",
    "worker.readers",
    "worker.samples",
    "worker.lines",
    "worker.tables",
    "worker.table_schema",
    "worker.joined",
    "worker.repeats",
    "worker.remote",
    "worker.parquet",
    "worker.quality",
    "worker.synth",
    "worker.reasons",
)


def test_runners_and_readers_import_no_django():
    # Runners, readers and the table and joined-file code are plain Python (DESIGN: load
    # once, predict batches), so they can be tested and benchmarked without a database; the
    # engine brings them Django's data.
    pure = [m for m in modules() if m.startswith(PURE)]
    assert "worker.runners" in pure and "worker.readers" in pure
    for module in pure:
        closure = {module} | reachable(module)
        assert not [m for m in closure if m.startswith("apps")], module
        assert not [m for m in closure if "django" in outside_imports(m)], module
        assert closure <= set(pure), (module, sorted(closure - set(pure)))


def test_cli_imports_neither_django_nor_the_server():
    cli = [m for m in modules() if m == "cli" or m.startswith("cli.")]
    assert cli
    for module in cli:
        closure = {module} | reachable(module)
        assert all(m == "cli" or m.startswith("cli.") for m in closure), (module, closure)
        assert not any("django" in outside_imports(m) for m in closure), module
    # And at run time: the installed command loads no Django and no server code.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, cli.main; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('django', 'apps', 'worker')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "[]"


STATUS_VALUES = {
    *("QUEUED", "RUNNING", "STOPPING", "COMPLETED", "FAILED", "STOPPED"),
    *("PENDING", "DONE", "CANCELLED"),
}


def _status_writes(path: Path) -> Iterator[str]:
    """`Job.objects….update(status=…)` (or JobShard), and `x.status = <a job or shard
    status>`, in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in {"update", "create", "update_or_create", "bulk_update"}:
                root = node.func.value
                while isinstance(root, (ast.Call, ast.Attribute)):
                    root = root.func if isinstance(root, ast.Call) else root.value
                status = [k.value for k in node.keywords if k.arg == "status"]
                on_jobs = isinstance(root, ast.Name) and root.id in {"Job", "JobShard"}
                if (on_jobs and (status or node.func.attr == "bulk_update")) or any(
                    _names_a_status(value) for value in status
                ):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}"
        elif isinstance(node, ast.Assign) and _names_a_status(node.value):
            for target in node.targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and leaf.attr == "status":
                        yield f"{path.relative_to(ROOT)}:{node.lineno}"


def _names_a_status(value: ast.expr) -> bool:
    return any(
        (isinstance(leaf, ast.Name) and leaf.id in {"JobStatus", "ShardStatus"})
        or (isinstance(leaf, ast.Constant) and leaf.value in STATUS_VALUES)
        for leaf in ast.walk(value)
    )


def test_only_the_transitions_module_writes_job_and_shard_status():
    writers = [
        where
        for module, path in modules().items()
        if module != "apps.jobs.transitions"
        for where in _status_writes(path)
    ]
    assert writers == []
    # The check would see one: the transitions module itself writes status.
    assert list(_status_writes(modules()["apps.jobs.transitions"]))
