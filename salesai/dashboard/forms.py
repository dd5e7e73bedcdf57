"""The rep's verdict on a score, as entered on the contact page."""

from typing import Any

from django import forms

from ml.models import Feedback


class FeedbackForm(forms.Form):
    prediction_id = forms.IntegerField(widget=forms.HiddenInput)
    verdict = forms.ChoiceField(choices=Feedback.Verdict.choices, widget=forms.RadioSelect)
    # Reps think in the 0-100 scores they see; the model stores a probability (0..1).
    override_score = forms.IntegerField(
        label="Your estimate (0-100)", min_value=0, max_value=100, required=False,
        help_text="Only for “Override”: how likely you think this lead converts.",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=4000)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("verdict") == Feedback.Verdict.OVERRIDE and cleaned.get("override_score") is None:
            self.add_error("override_score", "Give your own estimate when you override the score.")
        return cleaned

    @property
    def override_value(self) -> float | None:
        """The estimate as a probability, only for overrides (a stray value with agree/disagree is ignored)."""
        if self.cleaned_data.get("verdict") != Feedback.Verdict.OVERRIDE:
            return None
        score = self.cleaned_data.get("override_score")
        return None if score is None else score / 100
