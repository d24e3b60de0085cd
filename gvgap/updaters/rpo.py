"""RL update by Reasoning Preference Optimization (Pang et al., 2024; the paper's App. F):
the DPO loss on (chosen, rejected) pairs plus an NLL term on the chosen answer,

    L = -log sigmoid(beta * [log f/f_t (y_c|x) - log f/f_t (y_r|x)]) + sft_weight * NLL(y_c|x)

with the reference f_t = the current model (paper: beta = 0.05, sft_weight = 1). In TRL
1.16 this is DPOConfig(loss_type=["sigmoid", "sft"], loss_weights=[1, sft_weight]).
Pairs come from data.preference_pairs: chosen = weight > 0, rejected = weight == 0 of the
same prompt (so 0/1 weight functions such as threshold or quantile; exp weights are all
positive and give no pair).

`beta` here (updater.beta) is not the exp weight's beta (weight_fn.beta): this one scales
the policy's log-ratios inside the pairwise loss and never sees a verifier score; that one
divides verifier scores in w = exp(score / beta) (Example 2.1) and sets how sharply the
measured distribution f[w] leans to high scores. Neither sets the other.
"""

from __future__ import annotations

from pathlib import Path

from gvgap.updaters import data as D
from gvgap.updaters.base import Updater
from gvgap.updaters.common import Skip
from gvgap.updaters.schemas import RPOUpdaterConfig


class RPOUpdater(Updater):
    name = "rpo"
    settings_cls = RPOUpdaterConfig

    def select(self, records, seed: int) -> dict:
        self.pairs = D.preference_pairs(records, self.cfg.max_pairs_per_prompt, seed)
        if self.pairs.empty:
            raise Skip("no prompt has both a sample with weight > 0 and one with weight == 0 (no preference pair)")
        return {"n_pairs": int(len(self.pairs)), "n_prompts": int(self.pairs["prompt_id"].nunique())}

    def dataset(self, tokenizer):
        from datasets import Dataset

        ok = D.fits(tokenizer, self.pairs, self.cfg.max_length, add_eos=True)  # TRL always appends EOS
        pairs = self.pairs[ok]
        return Dataset.from_dict({k: pairs[k].tolist() for k in ("prompt", "chosen", "rejected")}), int((~ok).sum())

    def build_trainer(self, model_path: str, work_dir: Path, seed: int, stats: dict):
        from trl import DPOConfig, DPOTrainer

        c = self.cfg
        tok = self.load_tokenizer(model_path)
        ds, dropped = self.dataset(tok)
        stats["n_dropped_too_long"] = dropped
        if len(ds) == 0:
            raise Skip(f"every preference pair is longer than updater.max_length={c.max_length}")
        stats.update(n_train=len(ds),
                     epochs=round(c.max_steps * c.batch_size * c.gradient_accumulation_steps / len(ds), 3))
        losses, weights = (["sigmoid", "sft"], [1.0, c.sft_weight]) if c.sft_weight > 0 else (["sigmoid"], [1.0])
        args = DPOConfig(**self.trainer_args(work_dir, seed), beta=c.beta, loss_type=losses, loss_weights=weights,
                         precompute_ref_log_probs=c.precompute_ref)
        peft = self.peft_config()
        # DPOTrainer(model=<object>, ref_model=None) would reload the reference by name: give it
        # one, unless LoRA (reference = adapters off) or precomputed log-probs make it unneeded.
        ref = None if (peft is not None or c.precompute_ref) else self.load_model(model_path).eval()
        trainer = DPOTrainer(model=self.load_model(model_path), ref_model=ref, args=args, train_dataset=ds,
                             processing_class=tok, peft_config=peft)
        return trainer, tok
