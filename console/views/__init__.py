from console.views.alerts import alert_bundle, alert_chips, alert_detail, alert_list, alert_transition
from console.views.chips import chip_detail, search
from console.views.dashboard import dashboard, facility_map
from console.views.facilities import facility_detail, facility_list, facility_reconciliation
from console.views.inspections import inspection_csv, inspection_detail, inspection_list, inspection_new
from console.views.operators import key_retire, key_revoke, keys, submissions
from console.views.runs import run_decision, run_detail, run_list, run_queue

__all__ = [
    "alert_bundle",
    "alert_chips",
    "alert_detail",
    "alert_list",
    "alert_transition",
    "chip_detail",
    "dashboard",
    "facility_detail",
    "facility_list",
    "facility_map",
    "facility_reconciliation",
    "inspection_csv",
    "inspection_detail",
    "inspection_list",
    "inspection_new",
    "key_retire",
    "key_revoke",
    "keys",
    "run_decision",
    "run_detail",
    "run_list",
    "run_queue",
    "search",
    "submissions",
]
