"""Notices (お知らせ): publishing to a person, a segment or everyone; reading; reminders; the delivery outbox and
the worker that sends it (Web Push through ``push``, private delivery services by webhook); the broker that
tells open apps."""
