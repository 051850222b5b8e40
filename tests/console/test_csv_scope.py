"""Hostile review of the console's downloads: every `?format=csv` table is cut by restrict() exactly as its page.

The permission matrix (tests/authz) reads each page's HTML; these read the CSV downloads, which are written by
separate branches of the same views, as a party of one side of a border asking for the other side's rows: by
the list downloads, by a facility's or a chip's id in the URL, and by every `table=` name.
"""

import pytest

from tests.console.helpers import parse_csv

US_SITES, DE_SITES = ("US-VA-001", "US-TX-001"), ("DE-FRA-001",)
US_CHIP, DE_CHIP = "nvidia:1653824019000", "amd:MI300X-DE-000"

LISTS = [
    "/?format=csv&table=countries",
    "/?format=csv&table=operators",
    "/?format=csv&table=alerts",
    "/?format=csv&table=nearest",
    "/?format=csv&table=attestations",
    "/?format=csv&table=rejections",
    "/map/?format=csv",
    "/facilities/?format=csv",
    "/inspections/?format=csv",
    "/submissions/?format=csv&table=accepted",
    "/submissions/?format=csv&table=rejected",
    "/runs/?format=csv",
    "/runs/review/?format=csv",
    "/keys/?format=csv",
]
FACILITY_TABLES = [
    "inventory",
    "usage",
    "attestations",
    "findings",
    "inspections",
    "transfers",
    "clusters",
    "thresholds",
]
CHIP_TABLES = ["attestations", "placements", "events", "findings"]

# Who sits on which side: the other side's sites and chips are what each must never read.
SIDES = {
    "inspector-de": (US_SITES, US_CHIP),
    "other-operator": (US_SITES, US_CHIP),
    "inspector": (DE_SITES, DE_CHIP),
    "operator": (DE_SITES, DE_CHIP),
}


@pytest.mark.parametrize("username", sorted(SIDES))
def test_list_downloads_name_nothing_across_the_border(login, username):
    sites, chip = SIDES[username]
    c = login(username)
    for url in LISTS:
        flat = "\n".join(",".join(row) for row in parse_csv(c.get(url)))
        for site in (*sites, chip):
            assert site not in flat, (username, url, site)


@pytest.mark.parametrize("username", sorted(SIDES))
def test_downloads_by_id_across_the_border_are_not_found(login, username):
    sites, chip = SIDES[username]
    c = login(username)
    for site in sites:
        for table in FACILITY_TABLES:
            assert c.get(f"/facilities/{site}/?format=csv&table={table}").status_code == 404, (site, table)
        for live in ("", "&live=1"):
            assert c.get(f"/facilities/{site}/reconciliation/?format=csv{live}").status_code == 404, site
    for table in CHIP_TABLES:
        assert c.get(f"/chips/{chip}/?format=csv&table={table}").status_code == 404, table
