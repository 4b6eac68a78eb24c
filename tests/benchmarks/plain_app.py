"""Ceilings for the viewer benchmark, served by uvicorn exactly like the portal.

- `/graphql`: a plain Starlette JSON route that does no work (the issue's ceiling).
- `/rest-viewer`: a plain route doing the viewer's database work without GraphQL (the same token lookup,
  the person with their municipality in one point read, and the decryption for the masked number), to separate
  the cost of GraphQL from the cost of the database.
"""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.identity.authentication import authenticate_person
from api.identity.session_cache import SessionCache
from api.people.individual_number import cipher_for, mask
from api.people.service import person_with_municipality
from api.platform.auth import TokenRejected
from api.platform.db import create_engine
from api.platform.settings import Settings

ANSWER = {"data": {"viewer": {"id": "UGVyc29uOjE=", "name": "山田 太郎", "maskedIndividualNumber": "********0013"}}}
settings = Settings.from_env(os.environ)
engine = create_engine(settings.database_url)
sessions = SessionCache(settings.session_cache_size)
cipher = cipher_for(settings)


async def plain(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse(ANSWER)


async def rest_viewer(request: Request) -> JSONResponse:
    await request.body()
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    try:
        found = await authenticate_person(engine, token, cache=sessions)
    except TokenRejected:
        return JSONResponse({"error": "unauthenticated"}, status_code=401)
    read = await person_with_municipality(engine, found.principal.person_id)
    assert read is not None
    person, municipality = read
    return JSONResponse({"data": {"viewer": {
        "id": str(person.id), "name": person.name, "nameKana": person.name_kana,
        "birthDate": person.birth_date.isoformat(), "sex": person.sex.value.upper(), "address": person.address,
        "email": person.email, "phone": person.phone,
        "maskedIndividualNumber": mask(cipher.decrypt(person.individual_number_ciphertext,
                                                      person.number_key_generation)),
        "municipality": {"code": municipality.code, "prefecture": municipality.prefecture, "name": municipality.name},
    }}})


app = Starlette(routes=[Route("/graphql", plain, methods=["POST"]), Route("/rest-viewer", rest_viewer,
                                                                          methods=["POST"])])
