"""The admin of the test models: the djangotasks seed's admin action, written for autotask
(a method task started for each selected object)."""

from django.contrib import admin

from .models import Article


@admin.action(description="Run long_task in the background")
def run_long_task(modeladmin, request, queryset):
    handles = [article.long_task() for article in queryset]
    modeladmin.message_user(request, f"Started long_task for {len(handles)} articles.")


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    actions = [run_long_task]
