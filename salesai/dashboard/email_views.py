"""Email draft pages for reps: request a draft from the contact page, list drafts, review one (each sentence
with the facts it cites, the guardrail report) and accept, edit or reject it. Thin: the services in
ml.email_services decide; these views parse the form, call one service and say what happened."""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ml.email_selectors import email_action_rates, generated_emails_for_user
from ml.email_services import (
    EmailEditUnverified,
    EmailRefused,
    email_draft_accept,
    email_draft_edit,
    email_draft_reject,
    email_draft_request,
)
from ml.models import GeneratedEmail
from salesai.core.selectors import membership_can_manage, organizations_for_user
from salesai.dashboard.forms import EmailDraftForm, EmailEditForm, EmailRejectForm
from salesai.dashboard.selectors import deal_choices_for_contact, generated_email_review
from salesai.dashboard.views import _contact_for_user, _render_contact, _selected_organization

EMAILS_SHOWN = 100
REFRESH_SECONDS = 2  # while a draft is queued or generating, its page reloads itself this often
STALE_QUEUE = timedelta(minutes=2)  # queued longer than this: say that no gpu worker seems to be running
PENDING = (GeneratedEmail.Status.QUEUED, GeneratedEmail.Status.GENERATING)


@login_required
@require_POST
def contact_email_request(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _contact_for_user(request, contact_id)
    form = EmailDraftForm(request.POST, deals=deal_choices_for_contact(contact=contact))
    if not form.is_valid():
        return _render_contact(request, contact, form=None, email_form=form, status=400)
    deal = form.cleaned_data["deal"]
    try:
        email = email_draft_request(
            organization_id=contact.organization_id,
            contact_id=contact.id,
            intent=form.cleaned_data["intent"],
            options={"tone": form.cleaned_data["tone"], "length": form.cleaned_data["length"]},
            deal_id=deal.id if deal is not None else None,
            requested_by_id=request.user.id,
        )
    except EmailRefused as exc:
        # Nothing was stored: say why on the contact page, where the rep can see the contact's details.
        messages.error(request, f"No draft: {_error_text(exc)}")
        return redirect("dashboard:contact-detail", contact_id=contact.id)
    except ValidationError as exc:
        for error in exc.messages:
            form.add_error(None, error)
        return _render_contact(request, contact, form=None, email_form=form, status=400)
    messages.success(request, "Draft requested — it appears here as soon as it is written.")
    return redirect("dashboard:email-detail", email_id=email.id)


@login_required
@require_GET
def email_list(request: HttpRequest) -> HttpResponse:
    organizations = list(organizations_for_user(user=request.user))
    organization = _selected_organization(request, organizations)
    emails = GeneratedEmail.objects.none()
    if organization is not None:
        emails = (
            generated_emails_for_user(user=request.user)
            .filter(organization_id=organization.id)
            .select_related("contact", "contact__company")
            .order_by("-created_at", "-id")[:EMAILS_SHOWN]
        )
    rates = []
    if organization is not None and membership_can_manage(user=request.user, organization_id=organization.id):
        rates = email_action_rates(organization_id=organization.id)  # managers see how reps use the drafts
    context = {"organizations": organizations, "organization": organization, "emails": emails, "rates": rates}
    return render(request, "dashboard/email_list.html", context)


def _email_for_user(request: HttpRequest, email_id: int) -> GeneratedEmail:
    email = (
        generated_emails_for_user(user=request.user)
        .select_related("organization", "contact", "contact__company", "deal", "requested_by", "acted_by")
        .filter(id=email_id)
        .first()
    )
    if email is None:
        raise Http404("No such email draft.")
    return email


def _render_email(
    request: HttpRequest,
    email: GeneratedEmail,
    *,
    edit_form: EmailEditForm | None = None,
    reject_form: EmailRejectForm | None = None,
    edit_issues: list[dict] | None = None,
    status: int = 200,
) -> HttpResponse:
    pending = email.status in PENDING
    context = {
        "organization": email.organization,
        "organizations": list(organizations_for_user(user=request.user)),
        "email": email,
        "review": generated_email_review(email=email),
        "pending": pending,
        "refresh_seconds": REFRESH_SECONDS,
        "stale": pending and timezone.now() - email.created_at > STALE_QUEUE,
        "can_act": email.status == GeneratedEmail.Status.READY and not email.rep_action,
        "edit_form": edit_form or EmailEditForm(initial={"subject": email.subject, "body": email.body}),
        "reject_form": reject_form or EmailRejectForm(),
        "edit_issues": edit_issues or [],
    }
    response = render(request, "dashboard/email_detail.html", context, status=status)
    if pending:
        # The browser reloads by itself (no script needed), so a rep never waits on a hanging request.
        response["Refresh"] = str(REFRESH_SECONDS)
    return response


@login_required
@require_GET
def email_detail(request: HttpRequest, email_id: int) -> HttpResponse:
    return _render_email(request, _email_for_user(request, email_id))


def _act(request: HttpRequest, email: GeneratedEmail, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
    except EmailEditUnverified:
        raise  # the edit page shows the rep what could not be verified
    except ValidationError as exc:  # acted already, or not ready: the page shows the current state
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, done)
    return redirect("dashboard:email-detail", email_id=email.id)


@login_required
@require_POST
def email_accept(request: HttpRequest, email_id: int) -> HttpResponse:
    email = _email_for_user(request, email_id)
    return _act(
        request, email, lambda: email_draft_accept(email_id=email.id, user_id=request.user.id), "Draft accepted."
    )


@login_required
@require_POST
def email_edit(request: HttpRequest, email_id: int) -> HttpResponse:
    email = _email_for_user(request, email_id)
    form = EmailEditForm(request.POST)
    if not form.is_valid():
        return _render_email(request, email, edit_form=form, status=400)
    try:
        return _act(
            request,
            email,
            lambda: email_draft_edit(
                email_id=email.id,
                user_id=request.user.id,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                own_words=form.cleaned_data["own_words"],
            ),
            "Your edited version was saved.",
        )
    except EmailEditUnverified as exc:
        # Nothing saved: the rep sees each sentence the checker could not verify, and decides.
        return _render_email(request, email, edit_form=form, edit_issues=exc.issues, status=422)


@login_required
@require_POST
def email_reject(request: HttpRequest, email_id: int) -> HttpResponse:
    email = _email_for_user(request, email_id)
    form = EmailRejectForm(request.POST)
    if not form.is_valid():
        return _render_email(request, email, reject_form=form, status=400)
    return _act(
        request,
        email,
        lambda: email_draft_reject(email_id=email.id, user_id=request.user.id, reason=form.cleaned_data["reason"]),
        "Draft rejected — thanks, the reason helps the next drafts.",
    )


def _error_text(exc: ValidationError) -> str:
    return " ".join(exc.messages) if exc.messages else str(exc)
