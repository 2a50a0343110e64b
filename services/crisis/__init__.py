"""Crisis: protocols, rosters and cases for people who reach out.

Owns: crisis protocols, on-call rosters, crisis cases (database `rn_crisis`).
Publishes: CrisisRaised, CrisisEscalated.
Consumes: nothing yet (escalation timers and CrisisAlertRequested come with the escalation-ladder work).
"""
