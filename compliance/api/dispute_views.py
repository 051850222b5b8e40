"""Answers and clarification requests about findings and alerts (compliance.disputes does the work).

POST findings/{id}/answers/ and alerts/{id}/answers/: the party concerned answers (403
`not_party` for anyone else who sees it; 404 for whoever does not). POST .../clarifications/:
the treaty body or the inspectorate of a country concerned asks (403 for any other kind of
party, before the subject is looked up). answers/ and clarifications/ list what one sees;
answers/{id}/decide/ accepts or rejects; answers/{id}/attachments/{position}/ downloads a file.
"""

from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.decorators import action, api_view
from rest_framework.response import Response

from compliance import attachments, authority, disputes
from compliance.api import dispute_serializers as s
from compliance.dispute_models import Answer, AnswerAttachment, ClarificationRequest, Outcome
from compliance.filters import AnswerFilter, ClarificationFilter
from compliance.models import Alert
from core.ids import parse_id
from core.views import RestrictedReadOnlyViewSet

ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The finding's or alert's id.")


def _pk(raw):
    pk = parse_id(raw)
    if pk is None:
        raise exceptions.NotFound()
    return pk


def _finding(request, raw):
    from inventory.models import AnyFinding

    finding = (
        AnyFinding.objects.restrict(request.user, "view")
        .select_related("organisation", "other_organisation", "facility")
        .filter(pk=_pk(raw))
        .first()
    )
    if finding is None:
        raise exceptions.NotFound("No such finding in your view.")
    return disputes.Subject(finding=finding)


def _alert(request, raw):
    alert = Alert.objects.restrict(request.user).select_related("operator", "facility").filter(pk=_pk(raw)).first()
    if alert is None:
        raise exceptions.NotFound("No such alert in your view.")
    return disputes.Subject(alert=alert)


def answers_in_view(user):
    return (
        Answer.objects.restrict(user)
        .select_related("operator", "by", "decision__by", "decision__organisation")
        .prefetch_related(Prefetch("attachments", queryset=AnswerAttachment.objects.defer("content")))
    )


def clarifications_in_view(user):
    return ClarificationRequest.objects.restrict(user).select_related("operator", "requester", "requested_by")


def _answer(request, subject):
    # The speaker first: whoever sees the subject but is not its party learns nothing from the body's checks.
    authority.answering_party(request.user, subject)
    body = s.AnswerInputSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    files = [
        (a["name"], a["content_type"], attachments.decode(a["content"], i)) for i, a in enumerate(data["attachments"])
    ]
    row = disputes.answer(
        request.user,
        subject,
        data["explanation"],
        run=data["run"],
        request_id=data.get("request"),
        attachments=files,
    )
    return Response(s.AnswerSerializer(answers_in_view(request.user).get(pk=row.pk)).data, status=201)


def _clarify(request, lookup, raw):
    authority.require_clarification_requester(request.user)
    subject = lookup(request, raw)
    body = s.ClarificationInputSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    row = disputes.request_clarification(
        request.user, subject, data["question"], days=data.get("deadline_days"), operator=data.get("operator")
    )
    row = clarifications_in_view(request.user).get(pk=row.pk)
    return Response(s.ClarificationSerializer(row).data, status=201)


ANSWER_DOC = dict(
    request=s.AnswerInputSerializer,
    responses={201: s.AnswerSerializer},
    parameters=[ID],
    summary="Answer it, for the party it concerns (explanation, a run's code, attachments)",
)
CLARIFY_DOC = dict(
    request=s.ClarificationInputSerializer,
    responses={201: s.ClarificationSerializer},
    parameters=[ID],
    summary="Ask the party it concerns to clarify, by a deadline (treaty body, inspectorates)",
)


@extend_schema(**ANSWER_DOC)
@api_view(["POST"])
def finding_answers(request, id):
    return _answer(request, _finding(request, id))


@extend_schema(**ANSWER_DOC)
@api_view(["POST"])
def alert_answers(request, id):
    return _answer(request, _alert(request, id))


@extend_schema(**CLARIFY_DOC)
@api_view(["POST"])
def finding_clarifications(request, id):
    return _clarify(request, _finding, id)


@extend_schema(**CLARIFY_DOC)
@api_view(["POST"])
def alert_clarifications(request, id):
    return _clarify(request, _alert, id)


class AnswerViewSet(RestrictedReadOnlyViewSet):
    """Answers one sees (the party's own; in one's jurisdictions; all for the treaty body), with decisions."""

    queryset = Answer.objects.all()
    serializer_class = s.AnswerSerializer
    filterset_class = AnswerFilter

    def get_queryset(self):
        # Deciding is a POST on an answer the user may *see* (who may decide: compliance.authority).
        return answers_in_view(self.request.user)

    def get_object(self):
        _pk(self.kwargs.get("pk", ""))
        return super().get_object()

    @extend_schema(request=s.DecisionInputSerializer, responses=s.AnswerSerializer)
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Accept (with `close`: resolve the finding or alert too) or reject (the request stands again)."""
        authority.require_decider(request.user, set())  # the kind of party, before the answer is looked up
        row = self.get_object()
        body = s.DecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        outcome = Outcome.ACCEPTED if data["decision"] == "accept" else Outcome.REJECTED
        disputes.decide(request.user, row, outcome, data["reason"], close=data["close"], days=data.get("deadline_days"))
        return Response(s.AnswerSerializer(self.get_queryset().get(pk=row.pk)).data, status=status.HTTP_200_OK)

    @extend_schema(
        parameters=[OpenApiParameter("position", int, OpenApiParameter.PATH, description="0, 1, ...")],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file as sent; its type and SHA-256 are in the answer."
            )
        },
    )
    @action(detail=True, methods=["get"], url_path=r"attachments/(?P<position>[0-9]{1,4})")
    def attachment(self, request, pk=None, position=None):
        """One attachment's bytes, as a download (never rendered: application/octet-stream)."""
        row = self.get_object()
        found = AnswerAttachment.objects.filter(answer=row, position=int(position)).first()
        if found is None:
            raise exceptions.NotFound("No such attachment.")
        return attachment_response(found)


def attachment_response(found):
    """The bytes of an attachment as a download: never rendered by a browser, whatever it holds."""
    response = HttpResponse(bytes(found.content), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{attachments.download_name(found)}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


class ClarificationViewSet(RestrictedReadOnlyViewSet):
    """Requests for clarification one sees; `?awaiting=true` lists those still owed an answer (an operator's
    answers due)."""

    queryset = ClarificationRequest.objects.all()
    serializer_class = s.ClarificationSerializer
    filterset_class = ClarificationFilter

    def get_queryset(self):
        return clarifications_in_view(self.request.user)

    def get_object(self):
        _pk(self.kwargs.get("pk", ""))
        return super().get_object()
