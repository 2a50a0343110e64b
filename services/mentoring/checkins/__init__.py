"""Check-ins: a pair's cadence, check-ins with their risk flag (CrisisAlertRequested), overdue nudges
(CheckInOverdue) on durable timers, and drift (MenteeDrifting) from missed check-ins or meetings."""
