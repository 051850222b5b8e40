"""The demo builder: everything the console shows on `make run`, once."""


def test_demo_populates_every_page(login, demo):
    from attestations.models import Attestation, Rejection
    from compliance.models import Alert
    from inventory.models import Facility, Inspection

    assert set(Facility.objects.values_list("code", flat=True)) >= {"US-VA-001", "US-TX-001", "DE-FRA-001"}
    assert Attestation.objects.filter(kind="location").count() == 2
    assert Attestation.objects.filter(kind="usage").count() == 7
    assert set(Rejection.objects.values_list("code", flat=True)) == {"unknown_key", "stale_statement"}
    assert Inspection.objects.count() == 1
    states = dict(Alert.objects.filter(state="open").values_list("title", "severity"))
    assert any("Demo: 40 or more chips" in t for t in states)
    assert any("Covered chip cluster: US-VA-001 at" in t for t in states)
    assert any("Registered to another operator" in t for t in states)
    page = login("treaty").get("/map/").content.decode()
    # Ashburn red (high alerts), Abilene orange (a medium one), Frankfurt green (none).
    assert 'class="site high" cx=' in page and 'class="site other" cx=' in page and 'class="site none" cx=' in page


def test_demo_is_idempotent(demo):
    from django.apps import apps

    from demo.world import build

    def counts():
        return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label != "sessions"}

    first = counts()
    build()
    assert counts() == first
