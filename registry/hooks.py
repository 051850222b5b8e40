"""What higher apps do when the registry changes chips, in the same transaction.

The registry sits below the inventory, which keeps findings: a chip reported lost or stolen must raise
its finding (and so its alert) in the transaction that changed its status, and a manufacturer's report
must resolve the findings about chips it now vouches for. Higher apps register their reactions here at
start-up (their AppConfig.ready); the registry fires them without importing them. A reaction that fails
fails the change: nothing is accepted without its signal.

Topics:
- "chips.lost": chips=[(pk, public id, custodian pk, country)], status, actor (a User), log_index
- "chips.reported": manufacturer (an Organisation), serials (a list), actor, log_index
"""

from core.hooks import Hooks

_hooks = Hooks()
on, fire = _hooks.on, _hooks.fire
