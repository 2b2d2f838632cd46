"""Versioned data files (procedure catalogue, workflow definitions): read YAML, validate with a
pydantic model, say which file and field is wrong, keep every version and know the newest.
Infrastructure only: what the files mean belongs to the service that owns them."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def read_model(path: Path, model: type[M], error: type[Exception]) -> M:
    """The file as `model`, or `error` naming the file and every wrong field."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path.name}: not valid UTF-8 YAML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors())
        raise error(f"{path.name}: {where}") from None


def newest_versions(items: Iterable[M], key: Callable[[M], str]) -> dict[str, M]:
    """By key, the item with the highest `version` ("YYYY.N", compared as numbers)."""
    newest: dict[str, M] = {}
    for item in sorted(items, key=lambda i: tuple(int(n) for n in getattr(i, "version").split("."))):
        newest[key(item)] = item
    return newest
