"""The `model` config group: where a model's weights come from (sources.py) and the
schema of a conf/model/ option (schema.py)."""
