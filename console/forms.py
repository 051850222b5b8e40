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
        required=False, max_length=2000, label="Seals checked", help_text="Seal numbers, separated by commas."
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
