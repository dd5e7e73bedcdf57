"""The pure ML engine: networks (`nets/`), table schema and preprocessing, training, calibration, inference,
explanations, drift, the promotion gate, the baseline families and their serving, the checkpoint format,
the churn model, benchmarks and the email-generation pipeline with its guardrails and backends (`emailgen/`).

It takes frames, arrays and plain dataclasses and returns the same, so it runs on a GPU host or in a notebook
without the project. It may import the standard library and third-party numeric/ML libraries (numpy, pandas,
torch, scikit-learn, lightgbm, transformers...) and other `ml.engine` modules only: never Django,
rest_framework, celery, `salesai`, `crm_connectors` or an `ml` module outside `ml.engine` (import-linter
enforces this, see pyproject.toml). Settings, the ORM and files' locations are the caller's business.
"""
