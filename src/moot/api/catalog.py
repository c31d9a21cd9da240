"""Every API object type Moot serves, gathered from the declaration modules."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from moot.api import objects
from moot.api.engine import Catalog
from moot.api.model import ObjectType


@cache
def all_types() -> tuple[ObjectType, ...]:
    types: list[ObjectType] = []
    for info in sorted(pkgutil.iter_modules(objects.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{objects.__name__}.{info.name}")
        types.extend(getattr(module, "TYPES", ()))
    names = [t.name for t in types]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"API object types declared twice: {sorted(duplicates)}")
    return tuple(types)


@cache
def catalog() -> Catalog:
    return Catalog(all_types())
