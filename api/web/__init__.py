"""The web portal: server-rendered pages for a PC, a phone and a TV (Starlette + Jinja2, a few lines of plain
JavaScript, no build step). Each page calls the same domain functions as the GraphQL resolvers do; this package
holds no business rules of its own. Mounted at /web by api.app.
"""
