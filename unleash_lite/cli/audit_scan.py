"""Finding the flag names code uses, by reading it (never running it): Python through its
syntax tree, templates through a tolerant scanner. It serves ``unleash-lite audit``.

A flag name is found where it is written as a string literal, or as a name bound to one at
the top level of a module of the scanned tree (``NEW_CHECKOUT = "new-checkout"``), a class
attribute (``Flags.NEW_CHECKOUT``), or such a name imported from another scanned module.
Anything else in a flag's place (an f-string, a variable, a call) is a :class:`Dynamic`
reference: listed with its file and line, never guessed.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Dynamic", "Reference", "Scan", "scan"]

PYTHON_SUFFIXES = frozenset({".py", ".pyi"})
TEMPLATE_SUFFIXES = frozenset({".html", ".htm", ".jinja", ".jinja2", ".j2", ".djhtml", ".txt"})
SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})

# Calls whose first argument (or feature_name=) is a flag name, on any receiver or bare.
FIRST_ARGUMENT = frozenset(
    {
        "is_enabled",
        "get_variant",
        "evaluate",
        "explain",
        "ais_enabled",  # Django's request.unleash, async
        "aget_variant",
        "aevaluate",
        "feature_required",  # Flask view decorator
        "flag_required",  # Django view decorator, FastAPI dependency
        "variant_of",  # FastAPI dependency
        "override_flag",  # Django test decorator
        "feature_enabled",  # the Jinja helpers, called from Python
        "feature_variant",
    }
)
FIRST_ARGUMENT_KEYWORDS = ("feature_name", "name")
# FakeUnleash rules: every positional argument is a flag name (set_variant: the first).
FAKE_RULES = frozenset({"enable", "disable"})
FAKE_VARIANT = "set_variant"
FAKE_CLASS = "FakeUnleash"
FAKE_FIXTURE = "unleash"  # the pytest plugin's fixture, a FakeUnleash
# Calls taking a {flag: value} dict: client.override({...}), override_flags({...}),
# and the plugin's unleash_override(client, {...}).
OVERRIDE_METHODS = frozenset({"override", "override_flags"})
OVERRIDE_FIXTURE = "unleash_override"
MARKER = "unleash"  # @pytest.mark.unleash(enabled=..., disabled=..., variants=...)
MIXIN_ATTRIBUTE = "flag_name"  # FlagRequiredMixin's class attribute

# What a Python file must contain for a flag reference to be possible: a file without it is
# parsed only when another file imports a name from it. A cheap search of words first, then
# the calls themselves (most files that say "enabled" call nothing of the kind).
_WORDS = re.compile(
    r"is_enabled|get_variant|evaluate|explain|enable|disable|set_variant|override|"
    r"flag_required|feature_required|variant_of|feature_enabled|feature_variant|"
    r"mark\.unleash|flag_name"
)
_CALLS = re.compile(
    r"(?:is_enabled|get_variant|evaluate|explain|enable|disable|set_variant|"
    r"override(?:_flags?)?|flag_required|feature_required|variant_of|feature_enabled|"
    r"feature_variant)\s*\(|mark\.unleash|flag_name"
)


def _may_use_flags(text: str) -> bool:
    return _WORDS.search(text) is not None and _CALLS.search(text) is not None


# Templates: the Jinja helpers (Flask and Django) and the Django tags.
_STRING = r"""(?:"(?P<dq>[^"\\\n]*)"|'(?P<sq>[^'\\\n]*)')"""
_TEMPLATE_FORMS = (
    (
        "feature_enabled()",
        re.compile(r"\bfeature_enabled\(\s*(?:" + _STRING + r"|(?P<expr>[^),]*))"),
    ),
    (
        "feature_variant()",
        re.compile(r"\bfeature_variant\(\s*(?:" + _STRING + r"|(?P<expr>[^),]*))"),
    ),
    ("{% flag %}", re.compile(r"\{%-?\s*flag\s+(?:" + _STRING + r"|(?P<expr>.*?))\s*-?%\}", re.S)),
    (
        "{% flag_variant %}",
        re.compile(r"\{%-?\s*flag_variant\s+(?:" + _STRING + r"|(?P<expr>.*?))\s+as\s", re.S),
    ),
)
_NEWLINE = re.compile("\n")
_TEMPLATE_TRIGGER = re.compile(r"feature_enabled|feature_variant|\bflag")


@dataclass(frozen=True)
class Reference:
    """A flag name written in the code: where, and in which call shape."""

    name: str
    path: str
    line: int
    shape: str  # "is_enabled", "FakeUnleash.enable", "{% flag %}", ...
    via: str | None = None  # the constant the name came through (NEW_CHECKOUT)


@dataclass(frozen=True)
class Dynamic:
    """A flag's place holding something that is not a known string: an f-string, a
    variable, a call. ``expression`` is its source text."""

    path: str
    line: int
    shape: str
    expression: str


@dataclass
class Scan:
    """What :func:`scan` found."""

    references: list[Reference] = field(default_factory=list)
    dynamic: list[Dynamic] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    files: int = 0
    lines: int = 0

    def by_name(self) -> dict[str, list[Reference]]:
        """The references grouped by flag name, names sorted, each list in file order."""
        grouped: dict[str, list[Reference]] = {}
        for reference in sorted(self.references, key=lambda r: (r.name, r.path, r.line)):
            grouped.setdefault(reference.name, []).append(reference)
        return grouped


def scan(paths: Sequence[str | os.PathLike[str]], exclude: Sequence[str] = ()) -> Scan:
    """Every flag reference in the Python files and templates under ``paths`` (files or
    directories; hidden directories, ``node_modules``, virtualenvs and paths matching an
    ``exclude`` glob are skipped). A file that cannot be read or parsed is listed in
    :attr:`Scan.skipped`; a path that does not exist raises ``FileNotFoundError``."""
    result = Scan()
    python: list[tuple[Path, str]] = []
    templates: list[tuple[Path, str]] = []
    for root in paths:
        root_path = Path(root)
        if not root_path.exists():
            raise FileNotFoundError(str(root))
        for path in _files(root_path, exclude):
            shown = str(path)
            if path.suffix in PYTHON_SUFFIXES:
                python.append((path, shown))
            elif path.suffix in TEMPLATE_SUFFIXES or path == root_path:
                templates.append((path, shown))  # a file named on the command line: any suffix
    modules = _Modules(python, result)
    for path, shown in python:
        text = modules.text(path, shown)
        if text is None:
            continue
        result.files += 1
        result.lines += text.count("\n") + (not text.endswith("\n") and bool(text))
        if _may_use_flags(text):
            module = modules.parsed(path, shown)
            if module is not None:
                _PythonReader(module, modules, result).read()
    for path, shown in templates:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            result.skipped.append((shown, _why(error)))
            continue
        result.files += 1
        result.lines += text.count("\n") + (not text.endswith("\n") and bool(text))
        if _TEMPLATE_TRIGGER.search(text):
            _scan_template(text, shown, result)
    result.references.sort(key=lambda r: (r.path, r.line, r.name))
    result.dynamic.sort(key=lambda d: (d.path, d.line))
    return result


def _files(root: Path, exclude: Sequence[str]) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not name.startswith(".")
            and name not in SKIPPED_DIRECTORIES
            and not _excluded(os.path.join(directory, name), name, exclude)
        )
        for name in sorted(names):
            full = os.path.join(directory, name)
            if not _excluded(full, name, exclude):
                yield Path(full)


def _excluded(path: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _why(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(error, SyntaxError):
        return f"not valid Python (line {error.lineno}: {error.msg})"
    return str(getattr(error, "strerror", None) or error)


# -- Python ------------------------------------------------------------------------------


@dataclass
class _Module:
    path: str  # as shown in the report
    name: str  # dotted, from the path ("app.flags"; a package's __init__ is "app")
    package: str  # what a relative import starts from
    tree: ast.Module
    constants: dict[str, str]  # "NEW_CHECKOUT" and "Flags.NEW_CHECKOUT" -> the string
    imports: dict[str, tuple[str, str | None]]  # local name -> (module, name in it or None)


class _Modules:
    """The scanned Python files by module name, parsed on first need."""

    def __init__(self, files: Iterable[tuple[Path, str]], result: Scan) -> None:
        self._result = result
        self._paths: dict[Path, str] = {}
        self._by_name: dict[str, Path] = {}
        self._texts: dict[Path, str | None] = {}
        self._parsed: dict[Path, _Module | None] = {}
        self._found: dict[str, Path | None] = {}  # find()'s answers
        for path, shown in files:
            self._paths[path] = shown
            self._by_name.setdefault(_module_name(path), path)

    def text(self, path: Path, shown: str) -> str | None:
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                self._texts[path] = None
                self._result.skipped.append((shown, _why(error)))
        return self._texts[path]

    def parsed(self, path: Path, shown: str) -> _Module | None:
        if path in self._parsed:
            return self._parsed[path]
        module = None
        text = self.text(path, shown)
        if text is not None:
            try:
                tree = ast.parse(text, filename=shown)
            except (SyntaxError, ValueError) as error:
                self._result.skipped.append((shown, _why(error)))
            else:
                name = _module_name(path)
                package = name if path.stem == "__init__" else name.rpartition(".")[0]
                module = _Module(shown, name, package, tree, *_top_level(tree, package))
        self._parsed[path] = module
        return module

    def find(self, name: str) -> _Module | None:
        """The scanned module ``name`` is: the one of that dotted name, or, as the scan root
        may be above the import root (``src/``), the one whose name ends with it."""
        if name not in self._found:
            path = self._by_name.get(name)
            if path is None:
                suffix = "." + name
                candidates = [n for n in self._by_name if n.endswith(suffix)]
                path = self._by_name[candidates[0]] if len(candidates) == 1 else None
            self._found[name] = path
        path = self._found[name]
        return None if path is None else self.parsed(path, self._paths[path])

    def resolve(self, module: _Module, dotted: str, depth: int = 0) -> str | None:
        """The string ``dotted`` (``NAME``, ``Class.NAME``, ``module.NAME``) names in
        ``module``, following imports between scanned modules; ``None`` when unknown."""
        if depth > 8:
            return None
        found = module.constants.get(dotted)
        if found is not None:
            return found
        head, _, rest = dotted.partition(".")
        target = module.imports.get(head)
        if target is None:
            return None
        other_name, attribute = target
        if attribute is not None:
            rest = f"{attribute}.{rest}" if rest else attribute
        return self._resolve_in(other_name, rest, depth + 1) if rest else None

    def _resolve_in(self, module_name: str, dotted: str, depth: int) -> str | None:
        other = self.find(module_name)
        if other is not None:
            found = self.resolve(other, dotted, depth)
            if found is not None:
                return found
        head, _, rest = dotted.partition(".")
        if rest:  # a submodule: pkg.flags.NAME
            return self._resolve_in(f"{module_name}.{head}", rest, depth + 1)
        return None


def _module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(part for part in parts if part not in ("", ".", "..", "/") and ":" not in part)


def _top_level(
    tree: ast.Module, package: str
) -> tuple[dict[str, str], dict[str, tuple[str, str | None]]]:
    constants: dict[str, str] = {}
    imports: dict[str, tuple[str, str | None]] = {}

    def assigned(statement: ast.stmt, prefix: str) -> None:
        assignment = _assignment(statement)
        if assignment is None:
            return
        targets, value = assignment
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for target in targets:
                if isinstance(target, ast.Name):
                    constants[prefix + target.id] = value.value

    for statement in tree.body:
        assigned(statement, "")
        if isinstance(statement, ast.ClassDef):
            for inner in statement.body:
                assigned(inner, statement.name + ".")
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    imports[alias.asname] = (alias.name, None)
                else:
                    head = alias.name.partition(".")[0]
                    imports[head] = (head, None)
        elif isinstance(statement, ast.ImportFrom):
            base = statement.module or ""
            if statement.level:
                anchor = package.split(".") if package else []
                anchor = (
                    anchor[: len(anchor) - (statement.level - 1)] if statement.level > 1 else anchor
                )
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in statement.names:
                if alias.name != "*":
                    imports[alias.asname or alias.name] = (base, alias.name)
    return constants, imports


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else ``None``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _PythonReader:
    """The flag references of one module, in one walk over its tree."""

    def __init__(self, module: _Module, modules: _Modules, result: Scan) -> None:
        self.module = module
        self.modules = modules
        self.result = result
        self.path = module.path
        self.fakes = {FAKE_FIXTURE}

    def read(self) -> None:
        calls: list[ast.Call] = []
        classes: list[ast.ClassDef] = []
        for node in ast.walk(self.module.tree):
            kind = type(node)
            if kind is ast.Call:
                calls.append(node)  # type: ignore[arg-type]
            elif kind is ast.ClassDef:
                classes.append(node)  # type: ignore[arg-type]
            elif kind in _BINDINGS:
                _add_fake_name(node, self.fakes)
        for call in calls:
            self.call(call)
        for class_node in classes:
            self.class_attributes(class_node)

    # A flag's place: a string, a known constant, or something dynamic.
    def flag(self, node: ast.expr, shape: str) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.result.references.append(Reference(node.value, self.path, node.lineno, shape))
            return
        dotted = _dotted(node)
        if dotted is not None:
            value = self.modules.resolve(self.module, dotted)
            if value is not None:
                self.result.references.append(
                    Reference(value, self.path, node.lineno, shape, via=dotted)
                )
                return
        self.result.dynamic.append(Dynamic(self.path, node.lineno, shape, ast.unparse(node)))

    def flags_in(self, node: ast.expr, shape: str) -> None:
        """A name, or a list/tuple/set of them (the marker's ``enabled=``)."""
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            for element in node.elts:
                if not isinstance(element, ast.Starred):
                    self.flag(element, shape)
        else:
            self.flag(node, shape)

    def dict_keys(self, node: ast.expr, shape: str) -> None:
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if key is None:  # **other
                    self.result.dynamic.append(
                        Dynamic(self.path, node.lineno, shape, ast.unparse(node))
                    )
                else:
                    self.flag(key, shape)
        else:
            self.result.dynamic.append(Dynamic(self.path, node.lineno, shape, ast.unparse(node)))

    def call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Attribute):
            called, receiver = function.attr, function.value
        elif isinstance(function, ast.Name):
            called, receiver = function.id, None
        else:
            called, receiver = "", None
        if called in FIRST_ARGUMENT:
            self.first_argument(node, called)
        elif called in FAKE_RULES or called == FAKE_VARIANT:
            if receiver is not None and _dotted(receiver) in self.fakes:
                shape = f"{FAKE_CLASS}.{called}"
                if called == FAKE_VARIANT:
                    self.first_argument(node, shape)
                else:
                    for argument in node.args:
                        if not isinstance(argument, ast.Starred):
                            self.flag(argument, shape)
        elif called in OVERRIDE_METHODS:
            if node.args and (called == "override_flags" or isinstance(node.args[0], ast.Dict)):
                self.dict_keys(node.args[0], called)
        elif called == OVERRIDE_FIXTURE:
            if len(node.args) >= 2:
                self.dict_keys(node.args[1], called)
        elif (
            called == MARKER
            and receiver is not None
            and _dotted(receiver)
            in (
                "pytest.mark",
                "mark",
            )
        ):
            self.marker(node)

    def first_argument(self, node: ast.Call, shape: str) -> None:
        if node.args and not isinstance(node.args[0], ast.Starred):
            self.flag(node.args[0], shape)
            return
        for keyword in node.keywords:
            if keyword.arg in FIRST_ARGUMENT_KEYWORDS:
                self.flag(keyword.value, shape)
                return
        if node.args or any(keyword.arg is None for keyword in node.keywords):  # *args, **kw
            self.result.dynamic.append(Dynamic(self.path, node.lineno, shape, ast.unparse(node)))

    def marker(self, node: ast.Call) -> None:
        shape = f"@pytest.mark.{MARKER}"
        for keyword in node.keywords:
            if keyword.arg in ("enabled", "disabled"):
                self.flags_in(keyword.value, shape)
            elif keyword.arg == "variants":
                self.dict_keys(keyword.value, shape)

    def class_attributes(self, node: ast.ClassDef) -> None:
        for statement in node.body:
            assignment = _assignment(statement)
            if assignment is None:
                continue
            targets, value = assignment
            if any(isinstance(t, ast.Name) and t.id == MIXIN_ATTRIBUTE for t in targets):
                self.flag(value, f"{node.name}.{MIXIN_ATTRIBUTE}")


_BINDINGS = (ast.Assign, ast.AnnAssign, ast.NamedExpr, ast.withitem, ast.arg)


def _add_fake_name(node: ast.AST, names: set[str]) -> None:
    """A name (``fake``, ``self.fake``) ``node`` binds to a ``FakeUnleash(...)``, or a
    parameter annotated ``FakeUnleash``, added to ``names``."""
    bound: list[ast.expr] = []
    if isinstance(node, ast.Assign) and _makes_fake(node.value):
        bound = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and _makes_fake(node.value):
        bound = [node.target]
    elif isinstance(node, ast.withitem) and _makes_fake(node.context_expr):
        bound = [node.optional_vars] if node.optional_vars is not None else []
    elif isinstance(node, ast.arg) and node.annotation is not None:
        annotation = node.annotation
        text = annotation.value if isinstance(annotation, ast.Constant) else _dotted(annotation)
        if isinstance(text, str) and text.rpartition(".")[2] == FAKE_CLASS:
            names.add(node.arg)
    for target in bound:
        dotted = _dotted(target)
        if dotted is not None:
            names.add(dotted)


def _makes_fake(value: ast.expr | None) -> bool:
    if not isinstance(value, ast.Call):
        return False
    called = _dotted(value.func)
    return called is not None and called.rpartition(".")[2] == FAKE_CLASS


# -- templates ---------------------------------------------------------------------------


def _scan_template(text: str, path: str, result: Scan) -> None:
    newlines = [match.start() for match in _NEWLINE.finditer(text)]
    for shape, pattern in _TEMPLATE_FORMS:
        for match in pattern.finditer(text):
            line = bisect.bisect_left(newlines, match.start()) + 1
            name = match.group("dq")
            if name is None:
                name = match.group("sq")
            if name is not None:
                result.references.append(Reference(name, path, line, shape))
            else:
                expression = (match.group("expr") or "").strip()
                result.dynamic.append(Dynamic(path, line, shape, expression))


def _assignment(statement: ast.stmt) -> tuple[list[ast.expr], ast.expr] | None:
    """``(targets, value)`` of ``a = b = value`` or ``a: T = value``; ``None`` otherwise."""
    if isinstance(statement, ast.Assign):
        return statement.targets, statement.value
    if isinstance(statement, ast.AnnAssign) and statement.value is not None:
        return [statement.target], statement.value
    return None
