"""A deal score's reasons said the way a rep would say them: "Close date pushed later 2 times" instead of
"Close date pushed = 2". The model's factors (ml deal explain) carry the feature name and a label
"<name> = <value>"; known features get a sentence, anything else keeps the model's label."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DealReason:
    text: str
    raises: bool  # True: makes a win more likely


def _number(value: str) -> float | None:
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return None


def _times(n: float) -> str:
    return "once" if n == 1 else f"{n:.0f} times"


def _stage(value: str) -> str:
    pipeline, _, stage = value.rpartition(" / ")
    return f"At stage “{stage}”" + (f" of {pipeline}" if pipeline else "")


def _stage_changes(value: str) -> str:
    n = _number(value)
    if n is None:
        return "Stage history unknown"
    return "Has not moved stage yet" if n == 0 else f"Moved stage {_times(n)}"


def _age(value: str) -> str:
    n = _number(value)
    return "Age unknown" if n is None else f"Open for {max(n, 0):.0f} days"


def _days_to_close(value: str) -> str:
    n = _number(value)
    if n is None:
        return "No expected close date set"
    if n < 0:
        return f"Expected close date passed {-n:.0f} days ago"
    return f"Expected to close in {n:.0f} days"


def _pushes(value: str) -> str:
    n = _number(value)
    if n is None:
        return "Close date history unknown"
    return "Close date never pushed" if n == 0 else f"Close date pushed later {_times(n)}"


def _days_in_stage(value: str) -> str:
    n = _number(value)
    return "Time in stage unknown" if n is None else f"{n:.0f} days in the current stage"


def _stage_probability(value: str) -> str:
    n = _number(value)
    return "No CRM stage probability" if n is None else f"The CRM gives this stage {n * 100:.0f}%"


def _flag(yes: str, no: str, unknown: str) -> Callable[[str], str]:
    def say(value: str) -> str:
        n = _number(value)
        return unknown if n is None else (yes if n else no)

    return say


SAYINGS: dict[str, Callable[[str], str]] = {
    "stage": _stage,
    "stage_changes": _stage_changes,
    "age_days": _age,
    "days_to_close": _days_to_close,
    "close_date_pushes": _pushes,
    "days_in_stage": _days_in_stage,
    "stage_probability": _stage_probability,
    "owner": lambda value: f"Owned by {value}",
    "team": lambda value: f"Worked by team {value}",
    "pipeline": lambda value: f"In the {value} pipeline",
    "log_amount": lambda value: f"Deal size {value}",
    "close_date_passed": _flag("Close date has passed", "Close date still ahead", "No close date set"),
    "amount_missing": _flag("No amount entered", "Amount entered", "Amount unknown"),
}


def deal_reasons(*, factors: Any) -> list[DealReason]:
    """The factors in their stored order (strongest first), each as a sentence."""
    reasons = []
    for factor in factors or []:
        if not isinstance(factor, dict):
            continue
        label = str(factor.get("label") or factor.get("feature") or "")
        _, separator, value = label.partition(" = ")
        say = SAYINGS.get(str(factor.get("feature") or ""))
        text = say(value.strip()) if say and separator else label
        reasons.append(DealReason(text=text, raises=factor.get("direction") != "-"))
    return reasons
