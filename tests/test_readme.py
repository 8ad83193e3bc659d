"""The README against what it describes: every environment variable the app reads is in its
Configuration table (and every row there is one the app reads), every image it shows is in the
repo, and every `make` target it names is in the Makefile.

The variables are found in the source with `ast`, not by grepping: `os.environ.get("X")`,
`os.environ["X"]`, `os.getenv("X")`, `"X" in os.environ`, the same on a mapping parameter named
`environ` that stands in for `os.environ`, and calls of helpers such as `env_int("X", 5)` that pass
their argument on to one of those. A name built by a helper returning an f-string, such as
`SANDBOX_{name}_PORT`, must be documented with a placeholder: `SANDBOX_<NAME>_PORT`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Where the app reads its environment: its settings, the package, the worker, gunicorn's settings.
SOURCES = (
    ROOT / "config.py",
    ROOT / "worker.py",
    ROOT / "docs" / "deploy" / "gunicorn.conf.py",
    *sorted((ROOT / "webapp").rglob("*.py")),
)
# An environment variable's name; other keys (a WSGI environ's `wsgi.url_scheme`) are not one.
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
MAX_IMAGE_BYTES = 300_000  # a README page loads every picture


@dataclass(frozen=True)
class Variable:
    name: str  # as the README writes it: a placeholder such as <NAME> for a part made at runtime
    pattern: re.Pattern[str]  # what the README's spelling must match
    where: str

    def documented_in(self, names: set[str]) -> bool:
        return any(self.pattern.fullmatch(name) for name in names)


def _is_environ(node: ast.expr) -> bool:
    """`os.environ`, or a parameter named `environ` that stands in for it."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def _is_getenv(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "getenv"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _keys_read(tree: ast.AST) -> Iterator[ast.expr]:
    """The expression naming the variable, for each read of the environment under `tree`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            is_get = isinstance(func, ast.Attribute) and func.attr == "get"
            if (is_get and _is_environ(func.value)) or _is_getenv(func):
                yield node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            if _is_environ(node.value):
                yield node.slice
        elif (
            isinstance(node, ast.Compare)
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and _is_environ(node.comparators[0])
        ):
            yield node.left


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef]:
    yield from (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))


def _f_string_returned(function: ast.FunctionDef) -> ast.JoinedStr | None:
    returns = [node for node in ast.walk(function) if isinstance(node, ast.Return)]
    if len(returns) == 1 and isinstance(returns[0].value, ast.JoinedStr):
        return returns[0].value
    return None


def _from_f_string(text: ast.JoinedStr, where: str) -> Variable:
    """`f"SANDBOX_{sandbox.upper()}_PORT"` as `SANDBOX_<…>_PORT`, which `SANDBOX_<NAME>_PORT`
    in the README matches."""
    shown, pattern = "", ""
    for part in text.values:
        if isinstance(part, ast.Constant):
            shown += part.value
            pattern += re.escape(part.value)
        else:
            shown += "<…>"
            pattern += r"<[A-Z_]+>"
    return Variable(shown, re.compile(pattern), where)


def variables_read() -> tuple[list[Variable], list[str]]:
    """Every environment variable the app reads, and where a name could not be worked out."""
    trees = {path: ast.parse(path.read_text(), str(path)) for path in SOURCES}
    # Helpers that read the variable their caller names: env_int(name, default) and the like.
    helpers: dict[str, int] = {}
    passed_on: set[int] = set()  # the keys inside those helpers: their callers name the variable
    for tree in trees.values():
        for function in _functions(tree):
            parameters = [argument.arg for argument in function.args.args]
            for key in _keys_read(function):
                if isinstance(key, ast.Name) and key.id in parameters:
                    helpers[function.name] = parameters.index(key.id)
                    passed_on.add(id(key))

    found: list[Variable] = []
    unknown: list[str] = []
    for path, tree in trees.items():
        f_strings = {
            function.name: text
            for function in _functions(tree)
            if (text := _f_string_returned(function)) is not None
        }
        keys = [key for key in _keys_read(tree) if id(key) not in passed_on]
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            if name in helpers and len(call.args) > helpers[name]:
                keys.append(call.args[helpers[name]])
        for key in keys:
            where = f"{path.relative_to(ROOT)}:{key.lineno}"
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                if ENV_NAME.fullmatch(key.value):
                    found.append(Variable(key.value, re.compile(re.escape(key.value)), where))
            elif (
                isinstance(key, ast.Call)
                and isinstance(key.func, ast.Name)
                and key.func.id in f_strings
            ):
                found.append(_from_f_string(f_strings[key.func.id], where))
            else:
                unknown.append(f"{where}: {ast.unparse(key)}")
    return found, unknown


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def configuration_table() -> set[str]:
    """The names in the first column of the README's Configuration table."""
    names: set[str] = set()
    for line in readme_section("Configuration").splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            names.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_the_finder_sees_each_way_the_app_reads_its_environment():
    found, _ = variables_read()
    names = {variable.name for variable in found}
    assert {
        "DATABASE_URL",  # os.environ.get in config.py
        "GRID_PAGE_SIZE",  # env_int in config.py
        "LOG_FORMAT",  # os.environ[...] in the dev server
        "PORT",  # a Mapping parameter named environ
        "SANDBOX_<…>_PORT",  # a name made by a helper's f-string
        "WEB_CONCURRENCY",  # gunicorn's settings
    } <= names, names


def test_every_environment_variable_is_in_the_configuration_table():
    found, unknown = variables_read()
    documented = configuration_table()
    assert not unknown, (
        "environment variables whose name is not a string here; teach tests/test_readme.py "
        f"to read them: {unknown}"
    )
    missing = sorted({f"{v.name} ({v.where})" for v in found if not v.documented_in(documented)})
    assert not missing, f"not in the README's Configuration table: {missing}"


def test_every_row_of_the_configuration_table_is_read_by_the_app():
    found, _ = variables_read()
    stale = sorted(
        name for name in configuration_table() if not any(v.documented_in({name}) for v in found)
    )
    assert not stale, f"the README's Configuration table names what nothing reads: {stale}"


def test_every_image_the_readme_shows_is_in_the_repo():
    text = README.read_text()
    images = re.findall(r"!\[([^\]]*)\]\(([^)\s]+)", text)
    images += [("<img>", src) for src in re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", text)]
    assert images, "the README shows no screenshots"
    for alt, src in images:
        assert alt.strip(), f"{src} has no alt text"
        assert not re.match(r"[a-z]+:", src), f"{src}: images come from the repo, by path"
        path = ROOT / src
        assert path.is_file(), f"the README shows {src}, which is not in the repo"
        size = path.stat().st_size
        assert size < MAX_IMAGE_BYTES, f"{src} is {size:,} bytes: crop it"


def test_every_make_target_the_readme_names_is_in_the_makefile():
    text = README.read_text()
    blocks = re.findall(r"```.*?```", text, flags=re.DOTALL)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    named = set(re.findall(r"(?:^|[\s;&|(])make\s+([a-z][\w-]*)", "\n".join(blocks + spans)))
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, flags=re.MULTILINE))
    assert {"run", "test"} <= named, named
    assert named <= targets, f"not targets of the Makefile: {sorted(named - targets)}"
