"""The identity update: the next round uses the same model."""


class NoUpdate:
    def update(self, model_path: str, records, out_dir: str, seed: int = 0) -> str:
        return model_path
