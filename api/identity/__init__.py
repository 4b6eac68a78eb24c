"""Identity: session tokens and the principal a request acts as (card login comes in its own issue)."""
