"""The Django side of machine learning: models (ModelVersion, TrainingRun, Prediction, Feedback, ScoringRun,
GeneratedEmail...), services split by job (training, scoring, feedback, model versions, churn, emails),
selectors, gpu-queue tasks, beat schedules, admin, management commands, and the ORM bridges that turn CRM
rows into frames (`features/`, `text/cache.py`, `emailgen/` fact sheets, examples and evaluation).

It may import Django, celery, `salesai.core` and the pure engine (`ml.engine`), and hands the engine frames and
plain objects; it never imports `crm_connectors`. The model code itself (networks, training, calibration,
inference, explanations, gate, baselines, email pipeline) lives in `ml.engine`, which imports nothing from here.
"""
