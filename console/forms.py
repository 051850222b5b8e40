"""Forms of the console. Each POST carries Django's CSRF token; the logic behind
every form is the same service the API calls."""

from django import forms
from django.conf import settings

from inventory.models import Facility

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text="Recorded in the transparency log."
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why.")
        return reason


class OptionalReasonForm(forms.Form):
    """A decision on a run: an approval or a withdrawal may say why; an objection must (runs.services)."""

    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the transparency log.",
    )

    def clean_reason(self):
        return self.cleaned_data["reason"].strip()


def _split(value):
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class InspectionForm(forms.Form):
    facility = forms.ModelChoiceField(queryset=Facility.objects.none(), to_field_name="code")
    performed_at = forms.DateTimeField(
        input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput(), help_text="UTC, when the inspection took place."
    )
    inspectors = forms.CharField(required=False, max_length=2000, help_text="Names, separated by commas.")
    seals = forms.CharField(
        required=False,
        max_length=2000,
        label="Seals checked",
        help_text="Seal numbers, each optionally with where it is (NUMBER@WHERE), separated by commas.",
    )
    notes = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))
    observed = forms.FileField(
        label="Observed serials (CSV)",
        help_text=(
            "A header row `chip` (and optionally `cluster`), then one chip id per line, e.g. nvidia:1653824019000."
        ),
    )

    def __init__(self, *args, facilities=None, **kwargs):
        super().__init__(*args, **kwargs)
        if facilities is not None:
            self.fields["facility"].queryset = facilities

    def clean_inspectors(self):
        return _split(self.cleaned_data.get("inspectors"))

    def clean_seals(self):
        return _split(self.cleaned_data.get("seals"))

    def clean_observed(self):
        upload = self.cleaned_data["observed"]
        if upload.size > settings.CHIPREG_BULK_MAX_BYTES:
            raise forms.ValidationError("The file is too large.")
        return upload


class KeyForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, help_text="For people: where the key lives.")
    pem = forms.CharField(
        label="Public key (PEM)",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text="SubjectPublicKeyInfo PEM: Ed25519, ECDSA P-256 or P-384.",
    )


class RetireForm(forms.Form):
    at = forms.DateTimeField(
        required=False, input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput(), help_text="Empty: now (UTC)."
    )


class RevokeForm(forms.Form):
    since = forms.DateTimeField(
        input_formats=DATETIME_FORMATS,
        widget=DateTimeLocalInput(),
        help_text="Compromised since (UTC): statements signed from then on are flagged.",
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); the bounds are compliance.attachments'."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        return [super(MultipleFileField, self).clean(d, initial) for d in (data if isinstance(data, list) else [data])]


class AnswerForm(forms.Form):
    # Ids of their own: the alert and finding pages show several forms (a `reason` in more than one).
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_answer_%s")
        super().__init__(*args, **kwargs)

    explanation = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 4}))
    run = forms.RegexField(
        regex=r"^[\x21-\x7e]{1,64}$",
        required=False,
        max_length=64,
        label="Run",
        help_text="The public code of the run this is about, if any.",
    )
    attachments = MultipleFileField(
        required=False,
        help_text=(
            f"Up to {settings.CHIPREG_ANSWER_ATTACHMENTS_MAX} files of at most "
            f"{settings.CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES // 1024} KiB: PDF, PNG, JPEG, text, CSV or JSON."
        ),
    )

    def uploads(self):
        """(name, content type, bytes) of each upload, checked by compliance.attachments (the API's rules)."""
        import mimetypes

        out = []
        limit = settings.CHIPREG_ANSWER_ATTACHMENT_MAX_BYTES
        for upload in self.cleaned_data.get("attachments") or []:
            kind = (upload.content_type or "").split(";")[0].strip().lower()
            if kind in ("", "application/octet-stream"):
                kind = mimetypes.guess_type(upload.name)[0] or kind
            # One byte past the limit is enough to refuse it; never read more.
            out.append((upload.name, kind, upload.read(limit + 1)))
        return out


class ClarificationForm(forms.Form):
    # Ids of their own: the alert and finding pages show several forms (a `reason` in more than one).
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_clarify_%s")
        super().__init__(*args, **kwargs)

    question = forms.CharField(min_length=3, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    deadline_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        label="Days to answer",
        help_text=f"At least {settings.CHIPREG_CLARIFICATION_DAYS} (the agreement's), at most "
        f"{settings.CHIPREG_CLARIFICATION_MAX_DAYS}.",
    )
    operator = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput())


class DecisionForm(forms.Form):
    # Ids of their own: the alert and finding pages show several forms (a `reason` in more than one).
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_decide_%s")
        super().__init__(*args, **kwargs)

    decision = forms.ChoiceField(choices=[("accept", "Accept"), ("reject", "Reject")])
    reason = forms.CharField(min_length=3, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    close = forms.BooleanField(required=False, label="Accepting closes the finding or alert")
    deadline_days = forms.IntegerField(min_value=1, max_value=3650, required=False, label="Rejecting: days to answer")


class ChallengeRequestForm(forms.Form):
    """A challenge inspection of a facility (its code) or of coordinates (inventory.services.challenges)."""

    facility = forms.CharField(required=False, max_length=64, help_text="A registered facility's code; or:")
    latitude = forms.FloatField(required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(required=False, min_value=-180, max_value=180)
    reason = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))
    case = forms.CharField(required=False, max_length=64, help_text="The code of the case it belongs to.")


class ChallengeRecordForm(forms.Form):
    performed_at = forms.DateTimeField(
        input_formats=DATETIME_FORMATS, widget=DateTimeLocalInput(), help_text="UTC, when the team inspected."
    )
    observed = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Serials seen, one chip id per line (e.g. nvidia:1653824019000).",
    )
    seals = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="One seal per line: NUMBER@WHERE, with ' broken' at the end if it was found broken.",
    )
    notes = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_observed(self):
        return [line.strip() for line in self.cleaned_data.get("observed", "").splitlines() if line.strip()]

    def clean_seals(self):
        seals = []
        for line in self.cleaned_data.get("seals", "").splitlines():
            line = line.strip()
            if not line:
                continue
            broken = line.lower().endswith(" broken")
            number, _, where = line.removesuffix(" broken").removesuffix(" BROKEN").partition("@")
            seals.append({"seal": number.strip(), "where": where.strip(), "intact": not broken})
        return seals
