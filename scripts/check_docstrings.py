"""List the public functions whose docstring lacks a numpydoc section.

Public: the functions and classes a package exports in its ``__init__``'s ``__all__``
(``taxovit``, ``taxovit.metrics``, ``taxovit.decide``, ...; not ``taxovit.cli``, whose
reference is ``--help``), i.e. what the API reference page documents; errors are exempt.  Functions need Parameters, Returns and Examples; classes need Parameters
or Attributes, and Examples.  Prints ``name: missing sections`` and exits 1 when any is
missing:

    python scripts/check_docstrings.py             # every package of taxovit
    python scripts/check_docstrings.py metrics     # taxovit.metrics only
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import taxovit

#: the CLI's helpers are documented by ``--help`` and the docs' command pages
SKIP = {"taxovit.cli"}


def packages(only: str | None) -> list[str]:
    names = ["taxovit"] + [
        m.name
        for m in pkgutil.iter_modules(taxovit.__path__, "taxovit.")
        if m.ispkg and m.name not in SKIP
    ]
    return [n for n in names if only is None or n == f"taxovit.{only}"]


def gaps(obj: object) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    has = {s for s in ("Parameters", "Attributes", "Returns", "Examples") if f"{s}\n---" in doc}
    if inspect.isclass(obj):
        need = [] if has & {"Parameters", "Attributes"} else ["Parameters or Attributes"]
        return need + (["Examples"] if "Examples" not in has else [])
    return [s for s in ("Parameters", "Returns", "Examples") if s not in has]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    seen: set[int] = set()
    bad = 0
    for pkg in packages(argv[0] if argv else None):
        mod = importlib.import_module(pkg)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or id(obj) in seen:
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue  # an error's docstring says when it is raised
            seen.add(id(obj))
            missing = gaps(obj)
            if missing:
                print(f"{pkg}.{name}: {', '.join(missing)}")
                bad += 1
    print(f"{bad} public functions or classes lack a section", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
