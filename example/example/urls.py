from django.contrib import admin
from django.urls import path

from demo import views

urlpatterns = [
    path("", views.index, name="index"),
    path("run/", views.run_some_tasks, name="run"),
    path("admin/", admin.site.urls),
]
