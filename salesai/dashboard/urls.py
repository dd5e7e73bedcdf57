from django.urls import path

from salesai.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.home, name="home"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact-detail"),
    path("contacts/<int:contact_id>/feedback/", views.contact_feedback, name="contact-feedback"),
]
