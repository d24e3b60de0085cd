"""The verification key covers the prompt wording and the verdict parser, so a cached
verification made with other prompts is never reused."""

from __future__ import annotations

import shutil

from gvgap import stage_keys as K
from tests.conftest import compose


def test_verifier_text_hash_follows_the_prompt_files(tmp_path):
    for name in K.VERIFIER_TEXT_FILES:
        shutil.copy(K.VERIFIERS_DIR / name, tmp_path / name)
    before = K.verifier_text_hash(tmp_path)
    assert before == K.verifier_text_hash(K.VERIFIERS_DIR)
    prompts = tmp_path / "prompts.py"
    prompts.write_text(prompts.read_text() + "\n# one more word\n")
    K.verifier_text_hash.cache_clear()
    assert K.verifier_text_hash(tmp_path) != before


def test_verifications_key_changes_with_the_prompt_text(monkeypatch):
    cfg = compose(["model=tiny_random", "logger=none", "verifier=oracle"])
    key = K.verifications_key(cfg, "g" * 16, "model-path")
    assert key == K.verifications_key(cfg, "g" * 16, "model-path")
    monkeypatch.setattr(K, "verifier_text_hash", lambda: "another wording")
    assert K.verifications_key(cfg, "g" * 16, "model-path") != key
