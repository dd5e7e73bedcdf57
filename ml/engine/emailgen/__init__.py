"""Sales email drafts from a fact sheet: prompts, generation backends, the composer, guardrails, the pipeline.

Pure: it takes a `FactSheet` and returns a `DraftOutcome`. The ORM bridges that build fact sheets, select
few-shot examples and evaluate drafts over an organisation live on the Django side, in `ml/emailgen/`.
"""
