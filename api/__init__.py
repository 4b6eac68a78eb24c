"""The portal backend: Starlette app, settings, database, identity, and the GraphQL layer in api.schema."""
