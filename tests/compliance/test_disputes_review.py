"""Hostile review of answers and decisions (casework, disputes, delivery): one organisation does not settle
another's request for clarification."""

from compliance.dispute_models import AnswerDecision, ClarificationRequest
from tests.compliance.test_disputes import shared_finding, world  # noqa: F401  (op-a's US facility, its finding and alert)
from tests.factories import OrganisationFactory, UserFactory
from transparency.models import LogEventData


def _shared_finding(world):  # noqa: F811
    """A finding of the US that Germany reads as its other country (a transfer's): both inspectorates ask."""
    return shared_finding(world, "t-review", "nvidia:AN000003")


def test_one_requester_does_not_decide_an_answer_for_another_requesters_request(api, world):  # noqa: F811
    """Attack: the US inspectorate and the German one (the finding's other country) each ask op-a; op-a answers
    once, which fulfils both requests; the German inspectorate (friendly to op-a) accepts the answer. Before,
    that accepted the US inspectorate's request too (it no longer escalated, and the US had no say): an
    inspectorate decided on another country's request. Now an answer to several organisations' requests is the
    treaty body's to decide; each inspectorate decides only what it alone asked."""
    insp_de = UserFactory(
        organisation=OrganisationFactory(code="insp-de", kind="inspectorate", country="DE", jurisdictions=["DE"])
    )
    shared = _shared_finding(world)
    asked = {}
    for name, user in (("us", world.users["insp_us"]), ("de", insp_de)):
        r = api(user).post(
            f"/api/v1/findings/{shared.pk}/clarifications/", {"question": f"{name}: where are the chips?"}
        )
        assert r.status_code == 201, r.content
        asked[name] = r.json()["id"]
    answer = api(world.users["op_a_admin"]).post(
        f"/api/v1/findings/{shared.pk}/answers/", {"explanation": "They are on a boat."}
    )
    assert answer.status_code == 201, answer.content
    answer = answer.json()
    assert ClarificationRequest.objects.get(pk=asked["us"]).answer_id == answer["id"]
    before = LogEventData.objects.filter(event="answer.accepted").count()

    refused = api(insp_de).post(
        f"/api/v1/answers/{answer['id']}/decide/", {"decision": "accept", "reason": "Good enough for us."}
    )
    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "not_requester"
    # Nothing decided: the US's request still awaits its decision, nothing logged.
    assert not AnswerDecision.objects.exists()
    assert ClarificationRequest.objects.get(pk=asked["us"]).state == "answered"
    assert LogEventData.objects.filter(event="answer.accepted").count() == before
    # Nor does the US inspectorate settle Germany's request; the treaty body decides on the answer for both.
    refused = api(world.users["insp_us"]).post(
        f"/api/v1/answers/{answer['id']}/decide/", {"decision": "reject", "reason": "Which boat?"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_requester"
    decided = api(world.users["treaty"]).post(
        f"/api/v1/answers/{answer['id']}/decide/", {"decision": "reject", "reason": "Which boat?"}
    )
    assert decided.status_code == 200, decided.content
    assert set(ClarificationRequest.objects.filter(pk__in=asked.values()).values_list("state", flat=True)) == {"open"}


def test_a_requester_still_decides_an_answer_to_its_own_requests_only(api, world):  # noqa: F811
    """The organisation that asked decides on the answer it asked for, however many times it asked."""
    insp = world.users["insp_us"]
    for question in ("Where?", "And when?"):
        assert (
            api(insp).post(f"/api/v1/alerts/{world.alert.pk}/clarifications/", {"question": question}).status_code
            == 201
        )
    answer = (
        api(world.users["op_a_admin"])
        .post(f"/api/v1/alerts/{world.alert.pk}/answers/", {"explanation": "Here, then."})
        .json()
    )
    decided = api(insp).post(f"/api/v1/answers/{answer['id']}/decide/", {"decision": "accept", "reason": "Fine."})
    assert decided.status_code == 200, decided.content
    assert set(ClarificationRequest.objects.filter(alert=world.alert).values_list("state", flat=True)) == {"accepted"}


def test_a_manufacturer_reads_and_answers_an_alert_about_its_own_holding_only(api, parties):
    """A manufacturer holds chips before it sells them: an alert about its holding names it as the party concerned,
    and the README lets it answer those. It saw no alert at all, so it could neither read nor answer its own."""
    from tests.compliance.test_delivery import make_alert

    own = make_alert(parties)
    own.operator = parties.nvidia
    own.save(update_fields=["operator"])
    theirs = make_alert(parties)  # op-a's
    maker = api(parties.users["nvidia"])
    listed = [a["id"] for a in maker.get("/api/v1/alerts/").json()["results"]]
    assert listed == [own.pk]
    assert maker.get(f"/api/v1/alerts/{theirs.pk}/").status_code == 404
    answered = maker.post(f"/api/v1/alerts/{own.pk}/answers/", {"explanation": "Still in our warehouse."})
    assert answered.status_code == 201, answered.content
    assert maker.post(f"/api/v1/alerts/{theirs.pk}/answers/", {"explanation": "x"}).status_code == 404
    # Reading is not handling: a manufacturer acknowledges, resolves or dismisses nothing.
    assert maker.post(f"/api/v1/alerts/{own.pk}/acknowledge/", {"reason": "seen"}).status_code == 403


def test_a_manufacturer_reads_and_answers_a_finding_about_its_own_holding_only(api, parties):
    from inventory.models import AnyFinding, ChiplessFinding

    def finding(org, ref):
        return ChiplessFinding.objects.create(
            kind="never_received", organisation=org, country="US", source="transfer", source_id=ref, chip_ref=ref
        )

    own, theirs = finding(parties.nvidia, "nvidia:MF000001"), finding(parties.op_a, "nvidia:MF000002")
    maker = api(parties.users["nvidia"])
    listed = [f["id"] for f in maker.get("/api/v1/findings/").json()["results"]]
    assert listed == [AnyFinding.objects.get(chip_ref=own.chip_ref).pk]
    answered = maker.post(f"/api/v1/findings/{listed[0]}/answers/", {"explanation": "Shipped back to us."})
    assert answered.status_code == 201, answered.content
    other = AnyFinding.objects.get(chip_ref=theirs.chip_ref).pk
    assert maker.post(f"/api/v1/findings/{other}/answers/", {"explanation": "x"}).status_code == 404
    assert maker.post(f"/api/v1/findings/{listed[0]}/resolve/", {"reason": "fine"}).status_code == 403
