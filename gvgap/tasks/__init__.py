"""Task registry: `get_task(name, **options)` returns a ready Task."""

from __future__ import annotations

import importlib

from gvgap.tasks.base import Problem, Task

# name -> "module:Class"; modules are imported only when asked for.
REGISTRY = {
    "arithmetic": "gvgap.tasks.arithmetic:ArithmeticTask",
    "gsm8k": "gvgap.tasks.gsm8k:GSM8KTask",
    "math": "gvgap.tasks.math:MATHTask",
    "math500": "gvgap.tasks.math:MATH500Task",
    "nq_open": "gvgap.tasks.nq_open:NQOpenTask",
    "sudoku4": "gvgap.tasks.sudoku:Sudoku4Task",
}


def get_task(name: str, **options) -> Task:
    if name not in REGISTRY:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(sorted(REGISTRY))}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)


__all__ = ["Problem", "Task", "get_task", "REGISTRY"]
