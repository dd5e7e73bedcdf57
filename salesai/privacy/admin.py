"""Admin actions on contacts: export a person's data as JSON, erase a person everywhere (org admins only).

The contact admin is registered by `salesai.core` and extended by `ml` (score column); this app comes last in
INSTALLED_APPS and adds its actions to whichever contact admin is registered by then."""

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from salesai.core.models import Contact, Membership
from salesai.core.selectors import membership_role_get
from salesai.privacy.selectors import PersonNotFound
from salesai.privacy.services import person_data_export, person_erase


def _is_admin_of(request: HttpRequest, organization_id: int) -> bool:
    return request.user.is_superuser or (
        membership_role_get(user=request.user, organization_id=organization_id) == Membership.Role.ADMIN
    )


_ContactAdmin: Any = type(admin.site.get_model_admin(Contact))


class ContactPrivacyAdmin(_ContactAdmin):
    actions = (*(_ContactAdmin.actions or ()), "export_personal_data", "erase_personal_data")

    @admin.action(description="Export the person's data (JSON)")
    def export_personal_data(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        selected = list(queryset[:2])
        if len(selected) != 1:
            self.message_user(request, "Select exactly one contact to export.", messages.ERROR)
            return None
        contact = selected[0]
        if not _is_admin_of(request, contact.organization_id):
            self.message_user(request, "Only admins of its organisation can export a person's data.", messages.ERROR)
            return None
        data = person_data_export(
            organization_id=contact.organization_id, contact_id=contact.pk, actor_id=request.user.id
        )
        response = HttpResponse(json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="person-{contact.pk}.json"'
        return response

    @admin.action(description="Erase the person's data everywhere (GDPR)")
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        erased, refused = 0, 0
        for contact_id, organization_id in list(queryset.values_list("pk", "organization_id")):
            if not _is_admin_of(request, organization_id):
                refused += 1
                continue
            try:  # an earlier selected contact with the same email took this one with it
                person_erase(organization_id=organization_id, contact_id=contact_id, actor_id=request.user.id)
            except PersonNotFound:
                continue
            erased += 1
        if erased:
            self.message_user(request, f"Erased {erased} person(s) and their data.", messages.SUCCESS)
        if refused:
            self.message_user(
                request, f"{refused} contact(s) not erased: only admins of their organisation can.", messages.ERROR
            )


admin.site.unregister(Contact)
admin.site.register(Contact, ContactPrivacyAdmin)
