"""Web Push: VAPID, RFC 8291 payload encryption, subscriptions and delivery (built in the notices issue)."""
