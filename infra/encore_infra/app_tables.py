"""The app's DynamoDB table definitions, read from app/storage/dynamo/tables.py itself.

The stack creates the tables the app would create (`python -m app create-tables`), so they come
from the one place that defines them. Importing that module needs the app's dependencies
(botocore, aioboto3, the app package), which the infra venv does not have: instead its source is
parsed and only the pure parts are executed, unchanged: the constants, the `Index` and
`TableSpec` dataclasses, the table specs and the functions that turn a spec into the
`CreateTable` request (`_definition`, `_key_schema`, `_index`). Anything else in the module
(imports of the app, the async functions) is left out. If the module is reorganised so that one
of those names is missing, loading fails with a message that says so.
"""

from __future__ import annotations

import ast
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES_PY = REPO_ROOT / "app" / "storage" / "dynamo" / "tables.py"

_FUNCTIONS = ("_definition", "_key_schema", "_index")
_ALLOWED_IMPORTS = ("__future__", "dataclasses", "typing")
_MODULE = "encore_infra._app_dynamo_tables"


@dataclass(frozen=True)
class AppTables:
    specs: tuple[Any, ...]  # app.storage.dynamo.tables.TableSpec, as executed here
    definition: Callable[[Any, str], dict[str, Any]]  # tables._definition(spec, name)


def load(path: Path = TABLES_PY) -> AppTables:
    tree = ast.parse(path.read_text(), filename=str(path))
    kept: list[ast.stmt] = []
    for node in tree.body:
        pure_import = isinstance(node, ast.ImportFrom) and node.module in _ALLOWED_IMPORTS
        pure_function = isinstance(node, ast.FunctionDef) and node.name in _FUNCTIONS
        data = isinstance(node, ast.ClassDef | ast.Assign | ast.AnnAssign)
        if pure_import or pure_function or data:
            kept.append(node)
    module = types.ModuleType(_MODULE)
    module.__file__ = str(path)
    # dataclasses looks the defining module up in sys.modules while building the classes.
    sys.modules[_MODULE] = module
    try:
        code = compile(ast.Module(body=kept, type_ignores=[]), str(path), "exec")
        exec(code, module.__dict__)  # noqa: S102 - this repository's own source, pure parts only
    finally:
        del sys.modules[_MODULE]
    missing = [n for n in ("TABLES", *_FUNCTIONS) if n not in module.__dict__]
    if missing:
        raise RuntimeError(
            f"{path} no longer defines {', '.join(missing)}: update infra/encore_infra/"
            "app_tables.py to read the table definitions from where they moved."
        )
    return AppTables(specs=tuple(module.TABLES), definition=module._definition)
