#!/usr/bin/env python3
"""Fail when .env.example misses a variable that salesai/settings.py reads.

Settings read every variable through the one `env` object (`env.str("NAME", ...)`, `env.db("NAME")`, ...),
so walking the calls on `env` finds them all. Run by `make lint`.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Read by libraries rather than by settings.py, and worth setting for every process.
EXTRA = {"OMP_NUM_THREADS", "HF_HUB_OFFLINE"}


def variables_read_by_settings(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func
        on_env = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env") or (
            isinstance(func, ast.Name) and func.id == "env"
        )
        first = node.args[0]
        if on_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def variables_in_example(path: Path) -> set[str]:
    # Entries are `NAME=value`, or `#NAME=value` for ones left at their default.
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), flags=re.MULTILINE))


def main() -> int:
    wanted = variables_read_by_settings(ROOT / "salesai" / "settings.py") | EXTRA
    missing = sorted(wanted - variables_in_example(ROOT / ".env.example"))
    if missing:
        print(".env.example lacks: " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f".env.example lists all {len(wanted)} variables read by settings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
