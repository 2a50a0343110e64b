"""The Meeting Guide feed: export (per organization and network-wide) and import (file, URL or upload)."""
