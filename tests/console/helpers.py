import csv
import io


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def text(response):
    return body(response).decode()


def parse_csv(response):
    assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(text(response))))


def alert_for(title_part, facility="US-VA-001"):
    from compliance.models import Alert

    return Alert.objects.filter(facility__code=facility, title__contains=title_part).get()
