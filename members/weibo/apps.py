from django.apps import AppConfig


class WeiboProviderConfig(AppConfig):
    name = "members.weibo"
    label = "weibo_provider"
    verbose_name = "Weibo"
