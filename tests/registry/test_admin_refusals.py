"""Django admin shows a refusal of the registry's writers as an error on the page, with its code, and writes
nothing: a clashing vendor word (HARDWARE.md check 6) used to end in a server error page."""

from django.contrib.messages import get_messages

from registry.models import Organisation
from tests.registry.test_authority import root  # noqa: F401  (a registry administrator in Django admin)
from transparency.models import LogEventData


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_clashing_manufacturer_is_refused_on_the_add_page(root):  # noqa: F811
    events = LogEventData.objects.count()
    url = "/admin/registry/organisation/add/"
    form = {"code": "nvidia-gb200", "name": "Rival", "kind": "manufacturer", "country": "US", "jurisdictions": "[]"}
    response = root.post(url, form)
    assert response.status_code == 302 and response["Location"] == url
    assert any("vendor_word_clash" in text for text in _messages(response)), _messages(response)
    assert not Organisation.objects.filter(code="nvidia-gb200").exists()
    assert LogEventData.objects.count() == events
    # The same form for a code that clashes with no maker's word is saved and logged.
    saved = root.post(url, {**form, "code": "newmaker", "name": "New maker"})
    assert saved.status_code == 302 and saved["Location"] != url, saved.content[:2000]
    assert Organisation.objects.get(code="newmaker").kind == "manufacturer"
    assert LogEventData.objects.filter(event="organisation.created", object_id="newmaker").exists()


def test_re_kinding_an_operator_into_a_clashing_manufacturer_is_refused_on_the_change_page(root):  # noqa: F811
    rival = Organisation.objects.create(code="nvidia-gb200", name="Rival", kind="operator", country="US")
    events = LogEventData.objects.count()
    url = f"/admin/registry/organisation/{rival.pk}/change/"
    form = {"name": "Rival", "kind": "manufacturer", "country": "US", "jurisdictions": "[]"}
    response = root.post(url, form)
    assert response.status_code == 302 and response["Location"] == url
    assert any("vendor_word_clash" in text for text in _messages(response)), _messages(response)
    rival.refresh_from_db()
    assert rival.kind == "operator"
    assert LogEventData.objects.count() == events
