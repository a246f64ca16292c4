"""The platform collaboration feed: notices to platforms about their own listings, pull with a
TAXII-style cursor, signed webhooks, acknowledgements, re-checks (回头看) and per-platform
figures. State lives in the workspace database (api/workspace_db.py)."""
