"""The Web Push transport: VAPID, RFC 8291 payload encryption, sending one message, the devices' push
subscriptions, and a local RFC 8030 push service for development. It knows nothing of notices."""
