"""A stand-in for the `wandb` module that records every call gvgap makes to it.

In-process tests put it in sys.modules["wandb"] and read CALLS; a subprocess finds it
first on PYTHONPATH and appends each call as a JSON line to $FAKE_WANDB_LOG.
Tables are recorded with their columns and rows, charts with their table and axes."""

import json
import math
import os

CALLS = []


def _plain(v):
    if isinstance(v, Table):
        return {"table": {"columns": v.columns, "data": v.data}}
    if isinstance(v, _Chart):
        return {"chart": {"table": _plain(v.table), "x": v.x, "y": v.y, "title": v.title}}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return v


def _record(call, **kw):
    entry = {"call": call, "pid": os.getpid(), **_plain(kw)}
    CALLS.append(entry)
    path = os.environ.get("FAKE_WANDB_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry, default=str) + "\n")


class Table:
    def __init__(self, columns=None, data=None, dataframe=None):
        if dataframe is not None:
            columns, data = list(dataframe.columns), dataframe.astype(object).values.tolist()
        self.columns, self.data = list(columns or []), [list(r) for r in (data or [])]


class _Chart:
    def __init__(self, table, x, y, title=None):
        self.table, self.x, self.y, self.title = table, x, y, title


class plot:  # the namespace of wandb.plot.line
    @staticmethod
    def line(table, x, y, title=None):
        return _Chart(table, x, y, title)


class Run:
    def __init__(self, kw):
        self.id = kw.get("id")

    def log(self, data, step=None, commit=None):
        _record("log", run_id=self.id, data=data, step=step)

    def define_metric(self, name, **kw):
        _record("define_metric", run_id=self.id, name=name, **kw)

    def finish(self, exit_code=None):
        _record("finish", run_id=self.id, exit_code=exit_code)


def init(**kw):
    _record("init", kwargs={k: v for k, v in kw.items() if k != "config"}, config=kw.get("config"))
    return Run(kw)
