"""Reading /metrics the way Prometheus does (prometheus_client's own text parser)."""

from prometheus_client.parser import text_string_to_metric_families

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "gauge": ("",),
    "untyped": ("",),
}


def scrape(client, **extra):
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:500]
    return list(text_string_to_metric_families(response.content.decode()))


def series_names(families):
    """Every series name a PromQL expression may use against this exposition, samples or not yet."""
    names = set()
    for family in families:
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def value(families, name, **labels):
    """The sample's value (0 when the series has not been observed yet)."""
    for family in families:
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
