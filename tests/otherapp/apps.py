from django.apps import AppConfig


class OtherAppConfig(AppConfig):
    """A second app, for model-method tasks on a model of another app than the tasks' tests."""

    name = "tests.otherapp"
    label = "otherapp"
