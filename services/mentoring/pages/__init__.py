"""Mentoring's simple web pages: a member's own request, a mentor's proposals and mentees, a coordinator's
waiting list. Each is one self-contained file (inline script and styles, no CDN) that signs in with the
person's bearer token and reads the JSON routes on the same origin."""
