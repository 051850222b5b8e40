import factory

from registry.models import Organisation, User


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.code.upper())
    kind = "operator"
    country = "US"
    jurisdictions = factory.LazyFunction(list)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    organisation = factory.SubFactory(OrganisationFactory)
    role = "member"

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pw-for-tests-123")
        if create:
            obj.save(update_fields=["password"])


def chip_rows(prefix, count, model="nvidia-h100-sxm5-80gb", manufacturer="nvidia", **extra):
    """Registration rows for `count` chips with serials PREFIX000000..."""
    return [{"chip": f"{manufacturer}:{prefix}{i:06d}", "model": model, **extra} for i in range(count)]
