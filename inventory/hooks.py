"""What higher apps check when the inventory ships chips, in the same transaction (core.hooks).

The inventory sits below compliance, whose treaty body declares destination rules: a shipment under an export
authorisation approved before a rule forbade its destination must be refused before anything ships. Compliance
registers its check here at start-up (its AppConfig.ready); the inventory fires it without importing it.

Topics:
- "exports.shipping": authorisation (an approved, unused ExportAuthorisation, locked), shipped_at (the time the
  shipper gives), chip_models (the model slugs to judge: the approval's and the shipped chips' now); a listener
  raises a DomainError to refuse the shipment
- "chips.shipping": chip_pks (locked), shipper (the Organisation), shipped_at (the time it gives): attestations
  refuses a shipment dated before the shipper's own statements saw or worked the chips at its sites
- "chips.declaring": placeable ({chip pk: cluster pk or None}, the chips a declaration would place), facility,
  as_of: attestations refuses a declaration that would move chips out of their placement from before work its
  operator reported on them
"""

from core.hooks import Hooks

_hooks = Hooks()
on, fire = _hooks.on, _hooks.fire
