from django.urls import path

from salesai.dashboard import email_views, forecast_views, views

app_name = "dashboard"
urlpatterns = [
    path("", views.home, name="home"),
    path("forecast/", forecast_views.forecast, name="forecast"),
    path("deals/<int:deal_id>/", forecast_views.deal_detail, name="deal-detail"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:contact_id>/feedback/", views.contact_feedback, name="contact-feedback"),
    path("contacts/<int:contact_id>/emails/", email_views.contact_email_request, name="contact-email-request"),
    path("emails/", email_views.email_list, name="email-list"),
    path("emails/<int:email_id>/", email_views.email_detail, name="email-detail"),
    path("emails/<int:email_id>/accept/", email_views.email_accept, name="email-accept"),
    path("emails/<int:email_id>/edit/", email_views.email_edit, name="email-edit"),
    path("emails/<int:email_id>/reject/", email_views.email_reject, name="email-reject"),
]
