from console.views.alerts import alert_bundle, alert_chips, alert_detail, alert_list, alert_transition
from console.views.casework import case_action, case_detail, case_list, case_new, tip_detail, tip_list, tip_triage
from console.views.challenges import challenge_detail, challenge_list, challenge_new, challenge_step
from console.views.chips import chip_detail, search
from console.views.dashboard import dashboard, facility_map
from console.views.disposals import disposal_attachment, disposal_decision, disposal_list, watchlist
from console.views.disputes import answer_attachment, answer_decide, answer_new, answers_due, clarify, finding_detail
from console.views.exports import export_approvals, export_decision
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
    "answer_attachment",
    "answer_decide",
    "answer_new",
    "answers_due",
    "case_action",
    "case_detail",
    "case_list",
    "case_new",
    "challenge_detail",
    "challenge_list",
    "challenge_new",
    "challenge_step",
    "chip_detail",
    "clarify",
    "dashboard",
    "disposal_attachment",
    "disposal_decision",
    "disposal_list",
    "export_approvals",
    "export_decision",
    "facility_detail",
    "facility_list",
    "facility_map",
    "facility_reconciliation",
    "finding_detail",
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
    "tip_detail",
    "tip_list",
    "tip_triage",
    "watchlist",
]
