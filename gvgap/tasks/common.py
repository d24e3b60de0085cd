"""Small helpers shared by the benchmark tasks.

Every key of conf/task/<name>.yaml (other than `name` and `limit`) reaches a task as a
keyword option; a typo must fail loudly with the option's name, not be ignored.
"""

from __future__ import annotations

import hashlib
from typing import Any


def take_options(task: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Merge `options` over `defaults`; reject unknown keys, naming them."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(
            f"task.{unknown[0]}: unknown option for task {task!r} (known: {', '.join(sorted(defaults))})"
        )
    return {**defaults, **options}


def choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return `value` if it is one of `allowed`, else raise naming the option."""
    if value not in allowed:
        names = " or ".join(allowed) if len(allowed) == 2 else "one of " + ", ".join(allowed)
        raise ValueError(f"task.{key} must be {names}, got {value!r}")
    return value


def text_id(prefix: str, text: str) -> str:
    """A problem id from its text: stable across machines, file order and data source."""
    return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
