"""Weight functions w: proxy-utility scores [P, N] -> non-negative weights [P, N].

One option of conf/weight_fn/ per module here; each module holds the function and its
config schema (registered as `weight_fn/<name>_schema`, named in the option's defaults).
"""
