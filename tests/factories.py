import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

#: Every persona's password; long enough for the validators.
PASSWORD = "kurssi-kevät-2027-salasana"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"kayttaja{n}")
    first_name = factory.Faker("first_name", locale="fi_FI")
    last_name = factory.Faker("last_name", locale="fi_FI")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.invalid")
    password = factory.django.Password(PASSWORD)
    is_active = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """`UserFactory(roles=["Toimisto"])` puts the user into those groups."""
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))
