"""Hypothesis over REST input beyond what a JSON schema can say (payments, TV sign-in, PKI, corporate):
orders that pass the schema and the date window (so they reach the database), any Unicode (NUL, lone surrogates
as JSON escapes or bytes that are not UTF-8), huge and odd numbers, dates at the calendar's ends, forged cursors.
No answer 5xx; every refusal in its surface's format with a stable code."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import strategies as st

from api.platform.webhooks import sign_headers
from payments.gateways.base import GATEWAY_STATES
from tests.fuzz.conftest import GATEWAY_SECRET, FuzzPortal
from tests.fuzz.harness import EXAMPLES_PER_MODE, problem_failure, run_requests, seed_for, summary

pytestmark = pytest.mark.slow  # tens of seconds each: run first (tests/conftest.py)

# Any code point (lone surrogates and NUL included), and the known troublemakers on their own.
NASTY = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "\u202e", "𠮷", " ", "", "\ufeff", "a" * 5000])
TEXT = st.one_of(NASTY, st.text(st.characters(codec=None, exclude_categories=()), max_size=80))
# Mostly text that passes, so orders reach the database; the rest anything.
FAIR_TEXT = st.one_of(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=64), TEXT)
ODD = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.integers(-(2**70), 2**70), TEXT,
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _day(offset: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    return offset.map(lambda days: (date.today() + timedelta(days=days)).isoformat())


DAY = st.one_of(_day(st.integers(0, 800)), st.dates().map(date.isoformat), TEXT)
VALID_ORDER = st.fixed_dictionaries({
    "person_code": st.just("FATHER"), "amount": st.integers(1, 10**7),
    "purpose": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=200),
    "reference": st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=64),
    "due_date": _day(st.integers(0, 700))})
ANY_ORDER = st.fixed_dictionaries({
    "person_code": st.one_of(st.just("FATHER"), st.just("unknown"), TEXT), "purpose": FAIR_TEXT,
    "reference": FAIR_TEXT,
    "amount": st.one_of(st.integers(1, 10**7), st.integers(-(2**70), 2**70), ODD),
    "due_date": DAY}, optional={"payable_until": DAY, "notice_id": st.one_of(st.uuids().map(str), ODD)})
ORDER = st.one_of(VALID_ORDER, ANY_ORDER)


def _body(value: Any) -> dict[str, Any]:
    # json.dumps writes a lone surrogate as a \\ud800 escape: valid JSON that decodes to a str nothing can encode
    return {"content": json.dumps(value).encode(), "headers": {"content-type": "application/json",
                                                               "idempotency-key": str(uuid.uuid4())}}


def _wire(text: str) -> bytes:
    """Text as a URL carries it: a lone surrogate becomes bytes that are not UTF-8 (%ED%A0%80)."""
    return text.encode("utf-8", "surrogatepass")


def _cursor(values: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _requests(portal: FuzzPortal) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    params = st.fixed_dictionaries({}, optional={
        "first": st.integers(-5, 200).map(str), "state": st.sampled_from(["success", "created", "x"]),
        "from_date": DAY, "to_date": DAY, "reference": TEXT,
        "after": st.one_of(TEXT, st.lists(TEXT, max_size=3).map(_cursor),
                           st.tuples(st.datetimes().map(lambda d: d.isoformat()), st.uuids().map(str))
                           .map(lambda pair: _cursor(list(pair))))})
    return {
        "POST /payments/v1/orders": ORDER.map(lambda order: {"method": "POST", "url": "/payments/v1/orders", **_body(
            {**order, "person_code": code if (code := order["person_code"]) != "FATHER" else portal.person_code})}),
        "GET /payments/v1/payments": params.map(lambda query: {
            "method": "GET", "url": "/payments/v1/payments?" + urlencode({k: _wire(v) for k, v in query.items()})}),
        "POST /payments/v1/payments/{id}/refunds": st.fixed_dictionaries(
            {"amount": ODD}, optional={"refund_amount_available": ODD}).map(lambda refund: {
                "method": "POST", "url": f"/payments/v1/payments/{uuid.uuid4()}/refunds", **_body(refund)}),
        "POST /payments/v1/orders/{id}/cancel": st.text(st.characters(min_codepoint=32, max_codepoint=126),
                                                        max_size=400).map(str.strip).map(lambda key: {
            "method": "POST", "url": f"/payments/v1/orders/{portal.order_id}/cancel",
            "headers": {"idempotency-key": key}}),
        "PUT /payments/v1/callback-endpoint": st.fixed_dictionaries({"url": st.one_of(
            TEXT, TEXT.map(lambda tail: "https://agency.example/" + tail), ODD)}).map(lambda body: {
                "method": "PUT", "url": "/payments/v1/callback-endpoint", **_body(body)}),
        "GET /payments/v1/reconciliation/{day}": DAY.map(lambda day: {
            "method": "GET", "url": "/payments/v1/reconciliation/" + quote(_wire(day), safe="")}),
    }


# Bodies that are not JSON objects: any bytes, or nesting deeper than the parser goes (RecursionError).
RAW_BODY = st.one_of(st.binary(max_size=200), st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
                     st.sampled_from([b"null", b"[]", b"\xff\xfe", b'{"a": NaN}', b"9" * 5000]))


def _raw(method: str, url: str, body: bytes, signed: bool = False) -> dict[str, Any]:
    headers = {"content-type": "application/json", "idempotency-key": str(uuid.uuid4())}
    if signed:
        headers.update(sign_headers(GATEWAY_SECRET, f"msg_{uuid.uuid4().hex}", body))
    return {"method": method, "url": url, "content": body, "headers": headers}


FORM_TYPE = st.sampled_from(["multipart/form-data", "multipart/form-data; boundary=b", "text/plain",
                             "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1"])
RAW_FORM = st.one_of(RAW_BODY, st.integers(900, 1100).map(lambda n: b"&".join(b"f%d=1" % i for i in range(n))),
                     st.just(b'--b\r\nContent-Disposition: form-data; name="client_id"; filename="a"\r\n\r\nx\r\n'
                             b"--b--\r\n"))


def _form(fields: dict[str, str]) -> dict[str, Any]:
    return {"content": urlencode({name: _wire(value) for name, value in fields.items()}).encode(),
            "headers": {"content-type": "application/x-www-form-urlencoded"}}


def _other_requests(portal: FuzzPortal) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """TV sign-in (RFC 6749 errors), PKI and corporate (NTA errors) input."""
    grant = st.sampled_from(["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"])
    corporate = {"id": st.just(portal.application_id), "type": st.sampled_from(["21", "01", "12"])}
    return {
        "POST /oauth/device_authorization": st.fixed_dictionaries({"client_id": TEXT}, optional={"scope": TEXT})
        .map(lambda form: {"method": "POST", "url": "/oauth/device_authorization", **_form(form)}),
        "POST /oauth/token": st.fixed_dictionaries({"grant_type": st.one_of(grant, TEXT)}, optional={
            "device_code": TEXT, "client_id": TEXT, "refresh_token": TEXT}).map(lambda form: {
                "method": "POST", "url": "/oauth/token", **_form(form)}),
        **{f"POST {path} (raw body)": st.tuples(FORM_TYPE, RAW_FORM).map(lambda pair, path=path: {
            "method": "POST", "url": path, "content": pair[1], "headers": {"content-type": pair[0]}})
           for path in ("/oauth/token", "/oauth/device_authorization")},
        "GET /device": TEXT.map(lambda code: {"method": "GET",
                                              "url": "/device?" + urlencode({"user_code": _wire(code)})}),
        "GET /pki/crl/{issuer}.crl": TEXT.map(lambda issuer: {"method": "GET",
                                                              "url": f"/pki/crl/{quote(_wire(issuer), safe='')}.crl"}),
        "GET /pki/ocsp/{encoded}": TEXT.map(lambda encoded: {"method": "GET",
                                                             "url": "/pki/ocsp/" + quote(_wire(encoded), safe="")}),
        "POST /payments/gateway/notifications (signed)": _notifications(portal),
        "POST /payments/gateway/notifications (signed, raw body)": RAW_BODY.map(
            lambda body: _raw("POST", "/payments/gateway/notifications", body, signed=True)),
        "POST /payments/v1/orders (raw body)": RAW_BODY.map(lambda body: _raw("POST", "/payments/v1/orders", body)),
        "PUT /payments/v1/callback-endpoint (raw body)": RAW_BODY.map(
            lambda body: _raw("PUT", "/payments/v1/callback-endpoint", body)),
        "GET /corporate/4/name": st.fixed_dictionaries({**corporate, "name": TEXT}, optional={
            "mode": st.sampled_from(["1", "2"]), "target": st.sampled_from(["1", "2", "3"]), "from": DAY, "to": DAY,
            "divide": st.integers(-1, 10**6).map(str), "address": TEXT, "kind": TEXT}).map(lambda query: {
                "method": "GET", "url": "/corporate/4/name?" + urlencode({k: _wire(v) for k, v in query.items()})}),
        "GET /corporate/4/num": st.fixed_dictionaries({**corporate, "number": st.one_of(
            TEXT, st.lists(st.text("0123456789", min_size=13, max_size=13), max_size=11).map(",".join))},
            optional={"history": TEXT}).map(lambda query: {
                "method": "GET", "url": "/corporate/4/num?" + urlencode({k: _wire(v) for k, v in query.items()})}),
        "GET /corporate/4/diff": st.fixed_dictionaries({**corporate, "from": DAY, "to": DAY}, optional={
            "divide": st.integers(-1, 10**6).map(str), "address": TEXT, "kind": TEXT}).map(lambda query: {
                "method": "GET", "url": "/corporate/4/diff?" + urlencode({k: _wire(v) for k, v in query.items()})}),
    }


def _notifications(portal: FuzzPortal) -> st.SearchStrategy[dict[str, Any]]:
    """Correctly signed gateway notifications about the started payment, with any content (the webhook)."""
    def mostly(valid: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.integers(0, 4).flatmap(lambda n: odd if n == 0 else valid)

    data = st.fixed_dictionaries({
        "id": mostly(st.just(portal.gateway_reference), TEXT),
        "merchant_reference": mostly(st.just(portal.payment_id), TEXT),
        "amount": mostly(st.just(1000), ODD), "state": mostly(st.sampled_from(GATEWAY_STATES), TEXT)},
        optional={"captured_at": mostly(st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
                                        st.one_of(st.datetimes().map(datetime.isoformat), DAY, ODD)),
                  "card_brand": mostly(st.just("visa"), st.one_of(TEXT, ODD)),
                  "card_last4": mostly(st.just("4242"), st.one_of(TEXT, ODD)),
                  "error_code": mostly(st.sampled_from(["P0010", "P0050"]), ODD),
                  "next_url": mostly(st.just("https://gateway.example/pay"), st.one_of(TEXT, ODD))})

    def signed(payload: Any) -> dict[str, Any]:
        body = json.dumps({"type": "session.updated", "data": payload}).encode()
        return {"method": "POST", "url": "/payments/gateway/notifications", "content": body, "headers": {
            **sign_headers(GATEWAY_SECRET, f"msg_{uuid.uuid4().hex}", body), "content-type": "application/json"}}

    return mostly(data, ODD).map(signed)


def _error_format(response: Any) -> str | None:
    """Each surface's own error format with its code: problems, RFC 6749 errors, NTA codes."""
    if response.status_code < 400:
        return None
    path = response.request.url.path
    if not path.startswith("/corporate/4/"):
        try:
            response.json()
        except ValueError:
            return f"{response.status_code} is not JSON: {response.headers.get('content-type')} {response.text[:100]}"
    if path.startswith("/oauth/"):
        return None if isinstance(response.json().get("error"), str) else f"not an OAuth error: {response.text[:200]}"
    if path.startswith("/corporate/4/"):
        text = response.text
        code = response.json().get("code", "") if text.startswith("{") else text.split(",", 1)[0]
        return None if code.isdigit() and len(code) == 3 else f"no NTA error code: {text[:200]}"
    return problem_failure(response)


async def test_rest_input_never_answers_5xx(fuzz_portal: FuzzPortal, database_url: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    headers = {"authorization": f"Bearer {fuzz_portal.agency_key}"}
    seed = seed_for(database_url)

    def work() -> list[Any]:
        return [run_requests(label, requests, fuzz_portal.base_url, _error_format, seed, headers)
                for label, requests in {**_requests(fuzz_portal), **_other_requests(fuzz_portal)}.items()]

    tallies = await asyncio.to_thread(work)
    report = summary(database_url.split(":", 1)[0], tallies)
    with capsys.disabled():
        print("\n" + report)
    assert [t.label for t in tallies if t.failures] == [], report
    assert [t.label for t in tallies if t.examples < EXAMPLES_PER_MODE] == [], report
