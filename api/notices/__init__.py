"""Notices (お知らせ): publishing to a person, a segment or everyone; reading; reminders; delivery outbox."""
