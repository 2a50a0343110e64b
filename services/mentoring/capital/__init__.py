"""Recovery capital: the BARC-10 (Brief Assessment of Recovery Capital), ten items answered 1-6, a
total of 10-60, at intake and then every `barc_interval_days` (90 by default).

The item wording is not shipped: DESIGN.md says the BARC-10 is free to use, which is not a licence
to redistribute its text, and no redistribution licence could be found. So only item numbers are
stored, and each organization supplies its own wording per language (the form it already uses).

A member sees their own answers and trend; nobody else sees answers (not their mentor: the measure
is for the member and for outcome reporting, and a mentor who saw it would change what people
answer). The organization (org admin or coordinator) sees aggregates only, per closed calendar
quarter (fixed once it ends, so two reads never differ by one member: see model.py), each over at
least `barc_min_group` (>= 5) members, or withheld with the reason. Answers are never in logs, spans or
events; nothing is published.
"""
