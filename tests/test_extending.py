"""README "Extending gvgap": a new verifier is one Python file in gvgap/verifiers/ and one
YAML in conf/verifier/. The README's own example is written out (the module into a
folder added to the gvgap.verifiers package, the YAML into a conf folder on Hydra's
search path) and must register, compose, type-check, validate and verify."""

from __future__ import annotations

import re
import sys

import pytest
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

import gvgap.verifiers
from gvgap.config import ConfigError, register_schemas, validate
from gvgap.tasks import get_task
from gvgap.verifiers.base import VerifyInput
from tests.conftest import REPO, compose


def readme_block(first_line: str) -> str:
    """The fenced code block of README.md whose first line is `first_line`."""
    blocks = re.findall(r"```\w*\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    found = [b for b in blocks if b.startswith(first_line + "\n")]
    assert len(found) == 1, f"README has no single block starting with {first_line!r}"
    return found[0]


@pytest.fixture
def readable(tmp_path, monkeypatch):
    """The README's verifier, as if its two files had been added to the repo."""
    code = tmp_path / "code"
    conf = tmp_path / "conf" / "verifier"
    code.mkdir()
    conf.mkdir(parents=True)
    (code / "readable.py").write_text(readme_block("# gvgap/verifiers/readable.py"))
    (conf / "readable.yaml").write_text(readme_block("# conf/verifier/readable.yaml"))
    monkeypatch.setattr(gvgap.verifiers, "__path__", [*gvgap.verifiers.__path__, str(code)])
    register_schemas()  # finds the new module by listing the package, as at start-up
    yield f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    sys.modules.pop("gvgap.verifiers.readable", None)


def test_a_new_verifier_is_one_file_and_one_yaml(readable):
    cfg = compose([readable, "verifier=readable", "weight_fn=threshold", "weight_fn.tau=1"])
    validate(cfg)
    assert OmegaConf.get_type(cfg.verifier).__name__ == "ReadableVerifierConfig"  # typed by its schema
    assert cfg.verifier.max_chars == 2000
    verifier = instantiate(cfg.verifier, _convert_="all")
    assert (verifier.name, verifier.needs_model) == ("readable", False)

    task = get_task("arithmetic", limit=1)
    problem = task.problems()[0]
    texts = ["so the answer is 12.", "I do not know", "The answer is 3. " + "x" * 2000]
    df = verifier.verify(None, VerifyInput(task, [problem], [texts]))
    assert df["score"].tolist() == [1.0, 0.0, 0.0]  # readable; no number; too long


def test_the_new_verifier_is_checked_like_the_others(readable):
    with pytest.raises(ConfigCompositionException) as e:  # its schema types it as Hydra composes
        compose([readable, "verifier=readable", "verifier.max_chars=lots"])
    assert "max_chars" in str(e.value) + str(e.value.__cause__)
    cfg = compose([readable, "verifier=readable", "verifier.max_chars=0"])
    with pytest.raises(ConfigError, match=r"^verifier.max_chars must be >= 1 \(got 0\)$"):
        validate(cfg)
