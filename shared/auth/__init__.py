"""Who is calling: JWT verification, roles, and the organization taken from the token only."""
