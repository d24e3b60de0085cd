"""Rejection-sampling update (Example 2.2, Algorithm 1): supervised fine-tuning, by maximum
likelihood on completion tokens only, on D_t = {(x, y): w(û(x, y)) > 0}.

Non-binary weights (weight_fn=exp) are honoured by sampling, not by scaling the loss: the
trainer draws examples with replacement with probability proportional to their share
(see data.kept_examples), so the expected gradient is that of the weighted likelihood
sum_i share_i * log f(y_i | x_i) while TRL's loss stays the plain token-mean NLL. With 0/1
weights under example_weighting=global every share is equal and the usual shuffled epochs
over D_t are used, exactly Algorithm 1.
"""

from __future__ import annotations

from pathlib import Path

from gvgap.updaters import data as D
from gvgap.updaters.base import Updater
from gvgap.updaters.common import Skip
from gvgap.updaters.schemas import SFTUpdaterConfig


class SFTUpdater(Updater):
    name = "sft"
    settings_cls = SFTUpdaterConfig

    def select(self, records, seed: int) -> dict:
        self.kept = D.kept_examples(records, self.cfg.example_weighting)
        if self.kept.empty:
            raise Skip("no sample has weight > 0 (D_t is empty)")
        return {"n_kept": int(len(self.kept)), "n_prompts": int(self.kept["prompt_id"].nunique())}

    def dataset(self, tokenizer):
        """The tokenized D_t: input_ids, labels (prompt tokens = -100), share, prompt_id."""
        from datasets import Dataset

        cols, dropped = D.sft_features(tokenizer, self.kept, self.cfg.max_length, self.cfg.add_eos)
        return Dataset.from_dict(cols), dropped

    def build_trainer(self, model_path: str, work_dir: Path, seed: int, stats: dict):
        from trl import SFTConfig

        tok = self.load_tokenizer(model_path)
        ds, dropped = self.dataset(tok)
        stats["n_dropped_too_long"] = dropped
        if len(ds) == 0:
            raise Skip(f"every kept example is longer than updater.max_length={self.cfg.max_length}")
        c = self.cfg
        weighted = not D.is_uniform(ds["share"])
        stats.update(n_train=len(ds), weighted_sampling=weighted,
                     epochs=round(c.max_steps * c.batch_size * c.gradient_accumulation_steps / len(ds), 3))
        # labels are built here (prompt = -100), so TRL uses them as they are
        args = SFTConfig(**self.trainer_args(work_dir, seed), completion_only_loss=True)
        trainer = _trainer_cls(weighted)(model=self.load_model(model_path), args=args, train_dataset=ds,
                                         processing_class=tok, peft_config=self.peft_config())
        return trainer, tok


def _trainer_cls(weighted: bool):
    """TRL's SFTTrainer; with unequal shares, one that draws examples in proportion to them."""
    import torch
    from trl import SFTTrainer

    if not weighted:
        return SFTTrainer

    class WeightedSFTTrainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset=None):
            shares = torch.tensor(self.train_dataset["share"], dtype=torch.double)
            gen = torch.Generator().manual_seed(int(self.args.seed))
            return torch.utils.data.WeightedRandomSampler(shares, num_samples=len(shares), replacement=True,
                                                          generator=gen)

    return WeightedSFTTrainer
