"""What every domain stands on: database, settings, logs, errors, pagination, webhooks, auth primitives,
the person's access record, the kana/width name normaliser. Imports nothing of the domains."""
