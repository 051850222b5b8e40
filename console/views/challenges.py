"""Challenge inspections in the console: the list with their clocks (inventory.services.challenges)."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from console.access import console_view
from inventory.models import ChallengeInspection
from inventory.services import challenges

SHOWN = 200


def _left(seconds):
    """'5 h 12 min' (or '3 d 4 h'), of a number of seconds (its absolute value)."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    return f"{days} d {hours} h" if days else f"{hours} h {minutes} min"


@require_safe
@console_view
def challenge_list(request):
    """The challenge inspections in the user's view (restrict(): the requester, the party concerned, the site
    country's inspectorate, the treaty body), awaiting ones first by their next deadline, overdue marked."""
    now = timezone.now()
    rows = list(
        ChallengeInspection.objects.restrict(request.user)
        .select_related("facility", "operator", "requester")
        .order_by("-id")[:SHOWN]
    )
    shown = []
    for row in rows:
        clock = challenges.clock(row, now)
        step, deadline, left = clock if clock else (None, None, None)
        shown.append(
            {
                "row": row,
                "step": step,
                "deadline": deadline,
                "left": _left(left) if clock else "",
                "overdue": clock is not None and left < 0,
                "answers": challenges.answers_for(request.user, row),
            }
        )
    shown.sort(key=lambda r: (r["deadline"] is None, r["deadline"] or now, -r["row"].pk))
    return render(request, "console/challenge_list.html", {"rows": shown, "shown": SHOWN, "now": now})
