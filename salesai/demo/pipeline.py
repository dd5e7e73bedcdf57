"""The demo pipeline's steps, in one place: `make demo` runs them (`manage.py demo_pipeline`) and so does
CI's slow test (tests/demo/test_demo_pipeline.py), so a change that breaks the front door fails CI.

Each step is a management command with its arguments, exactly as a user would type it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoStep:
    title: str
    command: str
    args: tuple[str, ...] = ()


DEMO_ORG = "demo"
DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("Demo organization, user and synthetic CRM (CSV connector)", "demo_seed"),
    DemoStep(f"Training the lead-scoring model for org '{DEMO_ORG}'", "ml_train", ("--org", DEMO_ORG)),
    DemoStep(f"Scoring every lead of org '{DEMO_ORG}'", "ml_score", ("--org", DEMO_ORG)),
    DemoStep(
        f"Training the churn model for org '{DEMO_ORG}' (customer accounts)",
        "ml_train",
        ("--org", DEMO_ORG, "--task", "churn"),
    ),
    DemoStep(
        f"Scoring every customer account of org '{DEMO_ORG}' for churn",
        "ml_score",
        ("--org", DEMO_ORG, "--task", "churn"),
    ),
    DemoStep(
        f"Training the deal win-and-timing model for org '{DEMO_ORG}'",
        "ml_train",
        ("--org", DEMO_ORG, "--task", "deal_win"),
    ),
    DemoStep(
        f"Scoring every open deal of org '{DEMO_ORG}' (win probability, expected close)",
        "ml_score",
        ("--org", DEMO_ORG, "--task", "deal_win"),
    ),
    DemoStep(f"Forecasting bookings for the next three months of org '{DEMO_ORG}'", "ml_forecast", ("--org", DEMO_ORG)),
)
