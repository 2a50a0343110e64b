"""The only language services share: event envelopes, subjects, and one model per event.

A service imports `contracts` and `shared`, never another service.
"""
