"""The demo: a deterministic synthetic CRM (generator, texts, churn story), `demo_seed` (imported through the
real CSV connector) and `demo_pipeline` (the steps `make demo` and CI run). May import every app: it is the
product as a user would drive it."""
