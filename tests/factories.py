"""factory_boy factories for the whole suite."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from members.handles import normalise_handle
from members.models import Consent, Member, Tier
from members.selectors import current_consent_text


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier{n}")
    name = factory.Sequence(lambda n: f"等级{n}")
    rank = factory.Sequence(lambda n: 100 + n)


def standard_tiers() -> dict[str, Tier]:
    """The four demo tiers, by code."""
    specs = [("regular", "普通", 10), ("silver", "银卡", 20), ("gold", "金卡", 30),
             ("platinum", "白金卡", 40)]  # fmt: skip
    return {
        code: Tier.objects.update_or_create(code=code, defaults={"name": name, "rank": rank})[0]
        for code, name, rank in specs
    }


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member
        skip_postgeneration_save = True  # the consent hook saves its own row

    user = factory.SubFactory(UserFactory)
    state = Member.State.MEMBER
    display_name = factory.Sequence(lambda n: f"会员{n}")
    joined_at = factory.LazyFunction(timezone.now)
    # As a login would set it: the normalised Weibo screen name, if the member has one.
    mention_handle = factory.LazyAttribute(
        lambda member: normalise_handle(getattr(member, "weibo_screen_name", ""))
    )

    @factory.post_generation
    def consent(self, create, extracted, **kwargs):
        """Every member accepted the consent text in force when they joined (``consent=False``:
        one who did not, whom the site sends to the consent page)."""
        if create and extracted is not False:
            Consent.objects.get_or_create(member=self, text=current_consent_text())
