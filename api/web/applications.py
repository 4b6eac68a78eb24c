"""申請: さがす and ぴったり, my applications, a draft's form (rendered from the procedure's JSON Schema), the network
prefill with per-item consent, attachments, and the submission signed with the card's signature key through the
local helper (`myna-bridge serve`, `/web-eid/sign`). Each handler calls the domain function the GraphQL
resolver calls (api/schema/applications.py)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import date
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response

from api.applications import drafts, submission, withdrawal
from api.applications.attachments import add_attachment, attachments_of
from api.applications.catalogue import Procedure, Query, procedure
from api.applications.discover import find, pittari
from api.applications.drafts import EDITABLE
from api.applications.models import DECIDED, WITHDRAWN
from api.exchange.hub import Hub
from api.people.service import list_children
from api.platform.errors import ErrorCode, PortalError
from api.platform.pagination import PageRequest
from api.web.pages import path_uuid
from api.web.rendering import Visit, Web, render

STATUS_LABELS = {"draft": "下書き", "received": "受付", "reviewing": "審査中", "correction_requested": "補正依頼",
                 "withdrawn": "取下げ",
                 "completed": "完了", "rejected": "却下"}
MAX_SIGNED = 64 * 1024


async def applications(web: Web, visit: Visit) -> Response:
    keyword = visit.request.query_params.get("q", "").strip()[:100]
    found = await find(web.session_factory, Query(keyword or None, None, None), None) if keyword else []
    fits = await pittari(web.session_factory, visit.person_id, date.today())
    children = await list_children(web.session_factory, visit.person_id, PageRequest.parse(20, None),
                                   purpose="application:choose-child")
    mine = await drafts.my_applications(web.session_factory, visit.person_id)
    names = {p.code: p.name for p in [f.procedure for f in fits] + [p for p, _ in found]}
    for application in mine:
        names.setdefault(application.procedure_code, procedure(application.procedure_code).name)
    return render(web, visit, "applications.html", keyword=keyword, found=found, fits=fits,
                  children=[child for _, child in children.items], mine=mine, names=names, labels=STATUS_LABELS)


async def start(web: Web, visit: Visit) -> Response:
    async with visit.request.form() as fields:
        code, subject_raw = str(fields.get("procedure", "")), str(fields.get("subject", ""))
    try:
        subject = uuid.UUID(subject_raw) if subject_raw else None
    except ValueError as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "対象の方を選んでください。") from error
    application = await drafts.start_draft(web.session_factory, visit.person_id, code, subject, today=date.today())
    return RedirectResponse(f"/web/applications/{application.id}", status_code=303)


def form_sections(proc: Procedure) -> list[dict[str, Any]]:
    """The form's sections and their inputs, from the JSON Schema (object of objects of scalars)."""
    sections = []
    for name, section in proc.form.get("properties", {}).items():
        ui = section.get("x-ui", {})
        inputs = []
        for key, spec in section.get("properties", {}).items():
            kind = ("choice" if "enum" in spec else "boolean" if spec.get("type") == "boolean"
                    else "integer" if spec.get("type") == "integer" else
                    "date" if spec.get("format") == "date" else "text")
            inputs.append({"key": key, "name": f"{name}.{key}", "title": spec.get("title", key), "kind": kind,
                           "required": key in section.get("required", []), "max": spec.get("maxLength"),
                           "choices": [(value, spec.get("x-ui", {}).get("labels", {}).get(value, value))
                                       for value in spec.get("enum", [])]})
        sections.append({"name": name, "title": section.get("title", name), "inputs": inputs,
                         "read_only": bool(ui.get("readOnly")), "help": ui.get("help")})
    return sections


def form_from(proc: Procedure, fields: FormData, previous: dict[str, Any]) -> dict[str, Any]:
    """The typed form back as JSON: empty inputs left out, numbers as integers, checkboxes as booleans; read-only
    sections (the network's data) kept as they were."""
    form: dict[str, Any] = {}
    for section in form_sections(proc):
        if section["read_only"]:
            if section["name"] in previous:
                form[section["name"]] = previous[section["name"]]
            continue
        values: dict[str, Any] = {}
        for item in section["inputs"]:
            raw = fields.get(item["name"])
            if item["kind"] == "boolean":
                values[item["key"]] = raw == "on"
                continue
            text = str(raw or "").strip()
            if not text:
                continue
            if item["kind"] == "integer":
                try:
                    values[item["key"]] = int(text)
                except ValueError as error:
                    raise PortalError(ErrorCode.BAD_USER_INPUT, f"{section['title']}の{item['title']}は数字で"
                                      "入力してください。") from error
            else:
                values[item["key"]] = text
        form[section["name"]] = values
    return form


async def _application(web: Web, visit: Visit) -> Any:
    return await drafts.my_application(web.session_factory, visit.person_id, path_uuid(visit, "application_id"))


async def application_page(web: Web, visit: Visit, *, problem: str | None = None, status: int = 200) -> Response:
    application = await _application(web, visit)
    proc = procedure(application.procedure_code)
    async with web.session_factory() as session:
        attached = await attachments_of(session, application.id)
    ready, missing = application.status in EDITABLE, None
    if ready:
        try:
            await submission.to_sign(web.session_factory, visit.person_id, application.id)
        except PortalError as error:
            ready, missing = False, error.message
    return render(web, visit, "application.html", status, application=application, procedure=proc,
                  form_sections=form_sections(proc), attached=attached, ready=ready, missing=missing, problem=problem,
                  editable=application.status in EDITABLE, labels=STATUS_LABELS,
                  withdrawable=application.status not in DECIDED and application.status != WITHDRAWN,
                  helper=web.settings.card_helper_url)


async def save(web: Web, visit: Visit) -> Response:
    application = await _application(web, visit)
    async with visit.request.form() as fields:
        form = form_from(procedure(application.procedure_code), fields, application.form)
        revision = str(fields.get("revision", ""))
    if not revision.isdigit():
        raise PortalError(ErrorCode.BAD_USER_INPUT, "ページを開き直してください。")
    await drafts.save_draft(web.session_factory, visit.person_id, application.id, form, int(revision))
    return RedirectResponse(f"/web/applications/{application.id}?saved=1", status_code=303)


async def prefill(web: Web, visit: Visit) -> Response:
    application = await _application(web, visit)
    async with visit.request.form() as fields:
        consented = [str(item) for item in fields.getlist("consent")]
    if not consented:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "情報連携で取得する項目に同意してください。")
    done = await drafts.prefill_from_network(web.session_factory, Hub(web.session_factory), visit.person_id,
                                             application.id, consented)
    suffix = "&not_held=1" if done.not_held else ""
    return RedirectResponse(f"/web/applications/{application.id}?prefilled=1{suffix}", status_code=303)


async def attach(web: Web, visit: Visit) -> Response:
    application = await _application(web, visit)
    async with visit.request.form() as fields:
        requirement, upload = str(fields.get("requirement", "")), fields.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise PortalError(ErrorCode.BAD_USER_INPUT, "添付するファイルを選んでください。")
        data = await upload.read(web.settings.max_attachment_bytes + 1)  # one byte over: refused as too large
        filename, media_type = upload.filename, upload.content_type or "application/octet-stream"
    await add_attachment(web.session_factory, visit.person_id, application.id, requirement, filename[:200],
                         media_type, data, max_bytes=web.settings.max_attachment_bytes)
    return RedirectResponse(f"/web/applications/{application.id}?attached=1", status_code=303)


async def to_sign(web: Web, visit: Visit) -> Response:
    """The document the helper signs (it shows it and hashes it itself): the canonical JSON, base64."""
    application = await _application(web, visit)
    found = await submission.to_sign(web.session_factory, visit.person_id, application.id)
    return JSONResponse({"document": base64.b64encode(found.document).decode(), "sha256": found.digest_hex,
                         "formVersion": application.form_version})


def _b64(value: Any, name: str) -> bytes:
    try:
        if not isinstance(value, str) or len(value) > 16384:
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as error:
        raise PortalError(ErrorCode.BAD_USER_INPUT, f"{name} is not base64.") from error


async def submit(web: Web, visit: Visit) -> Response:
    """The helper's signature, relayed by the page: verified by the applications domain against the document it
    rebuilds (the page cannot choose what was signed)."""
    application = await _application(web, visit)
    body = await visit.request.body()
    try:
        token = json.loads(body) if len(body) <= MAX_SIGNED else None
    except ValueError:
        token = None
    if not isinstance(token, dict) or token.get("format") != "web-eid-sign:1.0":
        raise PortalError(ErrorCode.BAD_USER_INPUT, "The card helper's answer is not a web-eid-sign:1.0 token.")
    chain = token.get("certificateChain") or []
    if not isinstance(chain, list) or len(chain) > 4:
        raise PortalError(ErrorCode.BAD_USER_INPUT, "certificateChain must be a short list.")
    done = await submission.submit(web.session_factory, web.identity.service, visit.person_id, application.id,
                                   form_version=application.form_version,
                                   certificate=_b64(token.get("certificate"), "certificate"),
                                   chain=[_b64(c, "certificateChain") for c in chain],
                                   signature=_b64(token.get("signature"), "signature"), today=date.today())
    return JSONResponse({"next": f"/web/applications/{done.id}", "receptionNumber": done.reception_number})


async def withdraw(web: Web, visit: Visit) -> Response:
    """取下げ, with an optional reason the municipality sees in the application's history."""
    application = await _application(web, visit)
    async with visit.request.form() as fields:
        reason = str(fields.get("reason", ""))[:1000]
    await withdrawal.withdraw(web.session_factory, visit.person_id, application.id, reason, today=date.today())
    return RedirectResponse(f"/web/applications/{application.id}?withdrawn=1", status_code=303)
