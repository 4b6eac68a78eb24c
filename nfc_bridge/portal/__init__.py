"""The bridge's side of the portal: card and phone login over HTTP, the phone credential, a token store.

Talks to the server only through its public GraphQL operations; imports nothing of the server.
"""
