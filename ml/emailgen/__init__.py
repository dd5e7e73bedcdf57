"""Sales email drafts grounded in CRM facts: fact sheets, generation backends, guardrails, the pipeline.

Everything in this package except `factsheet.py` (the ORM bridge) is Django-free: it takes a `FactSheet`
and returns a `DraftOutcome`, so it runs in a notebook or on a GPU host without the project.
"""
