"""Every engine class has the `Engine` protocol's methods with the same parameters
(names, kinds, defaults, annotations) and sets a `tokenizer` -- checked on the classes
themselves (no model, no vllm needed), so a renamed method or parameter fails here."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from gvgap.engines.base import Engine, SamplingParams

ENGINES = ["gvgap.engines.hf.HFEngine", "gvgap.engines.vllm.VLLMEngine"]


def _load(target: str):
    module, name = target.rsplit(".", 1)
    return getattr(__import__(module, fromlist=[name]), name)


def _members():
    """(methods, attributes) that the protocol declares."""
    methods = sorted(n for n, v in vars(Engine).items() if inspect.isfunction(v) and not n.startswith("_"))
    return methods, sorted(Engine.__annotations__)


def _params(fn):
    return [(p.name, p.kind, p.default, str(p.annotation)) for p in inspect.signature(fn).parameters.values()]


def _assigned_attributes(cls) -> set[str]:
    """Names a class (or a base) sets as `self.NAME = ...` in its methods, or defines."""
    names = set(dir(cls))
    trees = [ast.parse(textwrap.dedent(inspect.getsource(c))) for c in cls.__mro__ if c is not object]
    for node in (n for tree in trees for n in ast.walk(tree)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                if isinstance(el, ast.Attribute) and isinstance(el.value, ast.Name) and el.value.id == "self":
                    names.add(el.attr)
    return names


def conformance_errors(cls) -> list[str]:
    methods, attributes = _members()
    errors = []
    for name in methods:
        impl = getattr(cls, name, None)
        if not callable(impl):
            errors.append(f"{cls.__name__}.{name} is missing")
            continue
        want, got = _params(getattr(Engine, name)), _params(impl)
        if got != want:
            errors.append(f"{cls.__name__}.{name}{inspect.signature(impl)} != Engine.{name}"
                          f"{inspect.signature(getattr(Engine, name))}")
        want_ret = inspect.signature(getattr(Engine, name)).return_annotation
        if inspect.signature(impl).return_annotation != want_ret:
            errors.append(f"{cls.__name__}.{name} returns {inspect.signature(impl).return_annotation}, not {want_ret}")
    have = _assigned_attributes(cls)
    errors += [f"{cls.__name__} never sets self.{a}" for a in attributes if a not in have]
    return errors


def test_protocol_declares_what_the_pipeline_calls():
    methods, attributes = _members()
    assert methods == ["close", "continuation_logprobs", "generate"]
    assert attributes == ["tokenizer"]


@pytest.mark.parametrize("target", ENGINES)
def test_engine_class_satisfies_protocol(target):
    assert conformance_errors(_load(target)) == []


def test_checker_catches_renames_and_changed_defaults():
    from gvgap.engines.hf import HFEngine

    class Renamed(HFEngine):
        close = None  # method gone

        def score(self, prompts, continuations):  # continuation_logprobs under another name
            ...

    Renamed.continuation_logprobs = None

    class NewDefault:
        def __init__(self):
            self.tok = None  # not `tokenizer`

        def generate(self, prompts: list[str], params: SamplingParams, indices: list[int] | None = ()) -> list[list[str]]:
            ...

    errs = conformance_errors(Renamed)
    assert any("close is missing" in e for e in errs) and any("continuation_logprobs is missing" in e for e in errs)
    errs = conformance_errors(NewDefault)
    assert any("generate" in e and "!=" in e for e in errs)
    assert any("never sets self.tokenizer" in e for e in errs)


def test_hf_engine_instance_is_an_engine():
    from gvgap.engines.hf import HFEngine
    from gvgap.model.sources import build_tiny_random

    e = HFEngine(build_tiny_random("llama", seed=0), dtype="float32", progress=False)
    assert isinstance(e, Engine)
    lp = e.continuation_logprobs(["a b"], [" c", " d"])
    assert lp.shape == (1, 2) and lp.dtype.name == "float64"
    e.close()
    assert e.model is None and e.decoder is None
