"""What reps enter on the manager pages: their verdict on a score, and email draft requests and actions."""

from typing import Any

from django import forms
from django.db.models import QuerySet

from ml.engine.emailgen.types import LENGTHS, TONES
from ml.models import EmailIntent, Feedback
from salesai.core.models import Deal


class FeedbackForm(forms.Form):
    prediction_id = forms.IntegerField(widget=forms.HiddenInput)
    verdict = forms.ChoiceField(choices=Feedback.Verdict.choices, widget=forms.RadioSelect)
    # Reps think in the 0-100 scores they see; the model stores a probability (0..1).
    override_score = forms.IntegerField(
        label="Your estimate (0-100)",
        min_value=0,
        max_value=100,
        required=False,
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


# --- sales email drafts -------------------------------------------------------------------------------------
class EmailDraftForm(forms.Form):
    """What the rep asks for on the contact page; the services validate again (they are the authority)."""

    intent = forms.ChoiceField(choices=EmailIntent.choices)
    tone = forms.ChoiceField(choices=[(tone, tone.title()) for tone in TONES], initial="friendly")
    length = forms.ChoiceField(choices=[(length, length.title()) for length in LENGTHS], initial="short")
    deal = forms.ModelChoiceField(
        queryset=Deal.objects.none(),
        required=False,
        empty_label="The contact's latest open deal (if any)",
    )

    def __init__(self, *args: Any, deals: QuerySet[Deal], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only this contact's deals: a posted id from another account (or tenant) is an invalid choice.
        self.fields["deal"].queryset = deals


class EmailEditForm(forms.Form):
    subject = forms.CharField(max_length=300)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 14}), max_length=20000)
    own_words = forms.BooleanField(
        required=False, label="Send it anyway, as my own words (what the checker could not verify is on record)"
    )


class EmailRejectForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)
