"""The Django side of sales email drafts: the ORM bridges around the pure pipeline in `ml.engine.emailgen`.

`factsheet.py` builds a `FactSheet` from CRM rows, `examples.py` selects few-shot examples from reps' accepted
drafts, `evaluation.py` drafts over an organisation and reports grounding and compliance.
"""
