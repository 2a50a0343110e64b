"""The public directory's web pages: search, starting soon, a meeting's details."""
