"""The shape of the code, checked so it stays: no import cycle in app/, small web modules and
functions, every route's full path written beside its handler, services through one
dependency. Each check reads the source (ast), so a failure names the file and line."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
WEB = APP / "web"
MAX_FILE_LINES = 300
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The app modules `path` imports, at any depth of the file (lazy imports count too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # from .x import y: relative to the package, one level up per extra dot
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in modules}
    return out - {name}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in APP.rglob("*.py")}
    return {m: imports_of(p, set(files)) for m, p in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    """The check below can fail: a made-up graph with a cycle is reported, one without is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_app():
    graph = import_graph()
    assert "app.web.identity" in graph and "app.web.services" in graph["app.web.identity"]
    assert cycles(graph) == []


def test_web_files_are_small():
    long = {p.name: n for p in WEB.glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert not long, f"files in app/web over {MAX_FILE_LINES} lines: {long}"


# The fit and its bootstrap are numerics best read as one piece (docs/architecture.md).
LONG_ALLOWED = {("app/ranking.py", "rank"), ("app/ranking.py", "_bootstrap")}


def test_functions_are_short():
    """No function in app/ over 60 lines but the ranking numerics."""
    long = []
    for path in APP.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and (str(path.relative_to(ROOT)), node.name) not in LONG_ALLOWED:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_router_prefix_and_no_app_state_in_routes():
    """Paths are written in full (grep finds the handler); services come from app.web.services."""
    for path in WEB.glob("*.py"):
        text = path.read_text()
        assert "prefix=" not in text, f"{path.name}: a router prefix hides the full path"
        if path.name != "services.py":
            assert "app.state" not in text, f"{path.name}: reach services through ServicesDep, not app.state"


def test_every_route_path_is_written_beside_its_handler():
    from app.main import create_app
    from tests.support.settings import make_settings

    app = create_app(make_settings("sqlite+aiosqlite:////nonexistent.db", Path("/tmp/takes-arch")))
    try:
        from fastapi.routing import iter_route_contexts
        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # FastAPI before lazily included routers
        routes = list(app.routes)
    missing = []
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        if endpoint is None or not getattr(endpoint, "__module__", "").startswith("app."):
            continue
        source = Path(inspect.getsourcefile(endpoint)).read_text()
        if f'"{route.path}"' not in source:
            missing.append(f"{route.path} ({endpoint.__module__}.{endpoint.__name__})")
    assert not missing, f"route paths not written in full in their handler's module: {missing}"
    assert sum(1 for r in routes if getattr(r, "endpoint", None)
               and r.endpoint.__module__.startswith("app.web.")) > 60   # the check saw the routes
