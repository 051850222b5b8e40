"""A statement's chips resolved against the registry."""

from inventory import chiprefs
from inventory.chiprefs import resolve_chips


class Resolution:
    """A statement's chips resolved against the registry, kept as the registry's answer only.

    A million-chip statement must stay within the server's memory budget, so
    there is no second dict over every listed chip: lookups go to the rows
    found, in the statement's order.
    """

    __slots__ = ("chip_ids", "found", "mark")

    def __init__(self, chip_ids, found=None, mark=None):
        self.chip_ids = chip_ids
        # The log's size when the chips were read (read before them): whatever changed them since is logged
        # at that index or later (refresh).
        self.mark = mark
        # {chip_ref: (pk, custodian_id, status, country)}, resolved here unless the caller did
        self.found = resolve_chips(chip_ids) if found is None else found

    def refresh(self, now):
        """Take `now` ({pk: (custodian_id, status, country)}: chips as they are under the log's lock) for the
        chips it names: a statement resolves its chips before it takes the lock, and a receipt, a shipment or
        a loss report may have been logged in between. Returns how many changed."""
        return chiprefs.refresh(self.found, now)

    def get(self, ref):
        return self.found.get(ref)

    def items(self):
        """(chip_ref, info or None) for every listed chip."""
        found = self.found
        return ((ref, found.get(ref)) for ref in self.chip_ids)

    def values(self):
        found = self.found
        return (found.get(ref) for ref in self.chip_ids)

    def known(self):
        """(chip_ref, chip pk) for the registered chips."""
        return ((ref, info[0]) for ref, info in self.found.items())

    def own(self, speaker_pk):
        """The pks of the listed chips the speaker holds: the only ones its sighting verifies (another
        operator listing a chip it does not hold must not keep the holder's chip from looking silent)."""
        found = self.found
        return [pk for ref, pk in self.known() if found[ref][1] == speaker_pk]
