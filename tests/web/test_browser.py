"""The portal in a real browser: card login through `myna-bridge serve`, a notice read, an order paid through
the sandbox gateway, the TV signed in by approving from the app, the PC signed in by a QR code; each page
photographed at phone, PC and TV sizes and checked with axe-core. Also: a 児童手当 claim signed with the card's
signature key through the helper and approved in the staff inbox, a 住民票の写し paid and downloaded, 連携サービス."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import AUTH_PIN, SCREENSHOTS, Helper, Stack, check_page

APPROVE = "mutation($code: String!) { approveDeviceSignIn(userCode: $code) { userCode approved } }"
CONFIRMED_APPROVE = ("mutation($code: String!) { approveDeviceSignIn(userCode: $code, confirmInFrontOfIt: true) "
                     "{ userCode approved } }")

pytestmark = pytest.mark.slow  # a stack and a browser per module, seconds a test: run first (tests/conftest.py)


def test_card_login_read_a_notice_and_pay(stack: Stack, helper: Helper, browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP")
    page = context.new_page()
    page.goto(f"{stack.url}/web/")
    assert page.url == f"{stack.url}/web/login"
    check_page(page, "login")
    helper.give_pin(AUTH_PIN)
    page.get_by_role("button", name="カードでログイン").click()
    page.wait_for_url(f"{stack.url}/web/", timeout=20_000)
    cookie = next(c for c in context.cookies() if c["name"] == "mp_web")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie["value"])  # the server-side session's id: no token
    assert page.get_by_role("heading", name="ホーム").is_visible()
    check_page(page, "home")

    page.get_by_role("link", name=re.compile("所得税の予定納税")).first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "所得税の予定納税（第1期）のお知らせ"
    assert page.locator(".read").inner_text() == "既読"
    check_page(page, "notice")

    page.goto(f"{stack.url}/web/payments")
    check_page(page, "payments")
    page.get_by_label("お支払い方法").select_option("card")
    page.get_by_role("button", name="52,300円を支払う").click()
    page.wait_for_load_state()
    assert page.url.startswith(f"{stack.gateway_url}/pay/"), page.inner_text("body")
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(rf"{re.escape(stack.url)}/web/payments/[0-9a-f-]+$"), timeout=20_000)
    assert page.get_by_role("heading", level=1).inner_text() == "お支払いが完了しました"
    check_page(page, "payment-done")
    page.goto(f"{stack.url}/web/payments")
    assert page.get_by_text("お支払いが必要な納付はありません。").is_visible()

    for name in ("history", "me", "proxies"):
        page.goto(f"{stack.url}/web/{name}")
        assert page.locator("h1").count() == 1
        check_page(page, name)

    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url(f"{stack.url}/web/login")
    page.goto(f"{stack.url}/web/")
    assert page.url == f"{stack.url}/web/login"
    context.add_cookies([cookie])  # the signed-out session's cookie, replayed
    page.goto(f"{stack.url}/web/")
    assert page.url == f"{stack.url}/web/login"  # the session ended on the server, not only in the cookie
    context.close()


def test_tv_signs_in_when_the_app_approves(stack: Stack, browser) -> None:
    app_token = stack.mynaportal("token", "--quiet").strip()
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="ja-JP")
    page = context.new_page()
    page.goto(f"{stack.url}/web/tv")
    code = page.locator("#user-code").inner_text()
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", code)
    assert page.get_by_role("img", name="サインイン用の二次元コード").is_visible()
    check_page(page, "tv-signin")
    assert stack.graphql(app_token, APPROVE, {"code": code}) == {
        "approveDeviceSignIn": {"userCode": code, "approved": True}}
    page.wait_for_selector(".tv-grid", timeout=20_000)
    items = page.locator(".tv-item")
    assert items.first.evaluate("element => element === document.activeElement")
    page.keyboard.press("ArrowDown")
    assert items.nth(1).evaluate("element => element === document.activeElement")
    assert page.get_by_role("link", name=re.compile("児童手当の現況について")).is_visible()
    check_page(page, "tv-home")
    context.close()


def test_pc_signs_in_by_a_qr_code_approved_in_the_app(stack: Stack, browser) -> None:
    app_token = stack.mynaportal("token", "--quiet").strip()
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP")
    page = context.new_page()
    page.goto(f"{stack.url}/web/login")
    page.get_by_role("button", name="二次元コードを表示").click()
    code = page.locator("#user-code").inner_text()
    check_page(page, "login-qr")
    # The app shows who asks (a browser, a full session, from this machine's Chromium) and approves only with the
    # person's word that the screen is in front of them (RFC 8628 §5.4).
    shown = stack.graphql(app_token, "query($code: String!) { deviceSignIn(userCode: $code) { kind fullAccess "
                                     "requesterAddress requesterBrowser } }", {"code": code})["deviceSignIn"]
    assert (shown["kind"], shown["fullAccess"], shown["requesterAddress"]) == ("BROWSER", True, "127.0.0.1")
    assert "Chrome/" in shown["requesterBrowser"]
    assert stack.graphql(app_token, CONFIRMED_APPROVE, {"code": code}) == {
        "approveDeviceSignIn": {"userCode": code, "approved": True}}
    page.wait_for_url(f"{stack.url}/web/", timeout=20_000)
    assert page.get_by_role("link", name=re.compile("公金決済")).first.is_visible()
    context.close()


def test_the_helper_refuses_other_origins_and_answers_the_local_network_preflight(stack: Stack,
                                                                                 helper: Helper) -> None:
    url = f"{stack.helper_url}/web-eid/authenticate"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Private-Network": "true"}
    allowed = httpx.options(url, headers={"Origin": stack.url, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == stack.url
    assert allowed.headers["access-control-allow-private-network"] == "true"
    other = httpx.options(url, headers={"Origin": "https://myna-portal.example", **preflight})
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    posted = httpx.post(url, headers={"Origin": "https://myna-portal.example"}, json={"challenge": "A" * 43})
    assert posted.status_code == 403 and posted.json()["code"] == "ORIGIN_NOT_ALLOWED"
    rebound = httpx.post(url, headers={"Origin": stack.url, "Host": "evil.example:80"}, json={"challenge": "A" * 43})
    assert rebound.status_code == 403
    bad = httpx.post(url, headers={"Origin": stack.url}, json={"challenge": "not a challenge!"})
    assert bad.status_code == 400 and bad.json()["code"] == "BAD_CHALLENGE"


@pytest.mark.parametrize("path", ["/web/login/qr", "/web/logout", "/web/login/card/challenge"])
def test_a_post_without_the_form_token_is_refused(stack: Stack, path: str) -> None:
    answer = httpx.post(f"{stack.url}{path}", data={"csrf": "forged"})
    assert answer.status_code == 403
    assert "default-src 'none'" in answer.headers["content-security-policy"]


def test_graphiql_and_swagger_ui_come_from_the_portal(stack: Stack, browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda request: None if request.url.startswith((stack.url, "data:", "blob:"))
            else elsewhere.append(request.url))
    page.goto(f"{stack.url}/graphql", wait_until="networkidle")
    page.wait_for_selector(".graphiql-container .graphiql-editors", timeout=20_000)
    page.screenshot(path=str(SCREENSHOTS / "graphiql-pc.png"))
    page.goto(f"{stack.url}/corporate/docs", wait_until="networkidle")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    page.screenshot(path=str(SCREENSHOTS / "corporate-docs-pc.png"))
    assert elsewhere == []
    context.close()


def test_login_at_the_example_relying_party(stack: Stack, browser, tmp_path) -> None:
    """もっとつながる in a real browser: the example relying party (its own process) sends Chromium to the portal's
    authorization endpoint, the person approves in the app (GraphQL), and the RP's page shows the name it read from
    the validated ID token and the tax category it read through the 自己情報取得API."""
    import json
    import subprocess

    from joserfc.jwk import ECKey

    from tests.payments.conftest import free_port
    from tests.web.conftest import REPO, _command, _wait_up

    key = ECKey.generate_key("P-256", {"alg": "ES256"}, private=True)
    key.ensure_kid()
    (tmp_path / "rp.json").write_text(json.dumps(key.as_dict(private=True)))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    port = free_port()
    rp_url = f"http://127.0.0.1:{port}"
    scopes = [arg for scope in ("openid", "name", "address", "birthdate", "selfinfo:tax-income")
              for arg in ("--scope", scope)]
    stack.mynaportal("oidc", "register", "browserrp", "--name", "ブラウザ確認用サービス", "--purpose", "ログインの確認",
                     "--redirect-uri", f"{rp_url}/callback", *scopes, "--jwks", str(tmp_path / "jwks.json"),
                     "--agency-kind", "tax")
    stack.mynaportal("oidc", "approve", "browserrp")
    rp = subprocess.Popen([_command("mynaportal"), "oidc", "example-rp", "--client", "browserrp", "--port",
                           str(port), "--key", str(tmp_path / "rp.json")], env=stack.env, cwd=stack.home,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_up(f"{rp_url}/", rp)
        app_token = stack.mynaportal("token", "--quiet").strip()
        decide = (REPO / "graphql" / "operations" / "phone" / "OidcLoginDecide.graphql").read_text()
        context = browser.new_context(locale="ja-JP")
        page = context.new_page()
        page.goto(rp_url)
        page.locator("#login").click()
        page.wait_for_selector("#short-code")
        assert page.url.startswith(f"{stack.url}/oidc/authorize?")
        assert page.locator("#client").inner_text() == "ブラウザ確認用サービス"
        code = page.locator("#short-code").get_attribute("data-code")
        decided = stack.graphql(app_token, decide, {"shortCode": code, "approve": True})["oidcLoginDecide"]
        assert decided["status"] == "approved"
        page.locator("#continue").click()
        page.wait_for_selector("#welcome", timeout=20_000)
        assert page.url == f"{rp_url}/"
        assert page.locator("#name").inner_text() == "山田 太郎"
        assert page.locator("#tax-status").inner_text() == "読みました"
        context.close()
    finally:
        rp.terminate()
        rp.wait(timeout=10)


# 申請, 証明書 and 連携 (one database each: the handler tests in tests/api/web run on both; the same module, so
# they share its stack and browser).
SIGN_PASSWORD = "ABC123"  # the sandbox cards' signature password (myna-bridge virtual-card load --sandbox-pins)


def _only_on(stack: Stack, database: str) -> None:
    if not stack.env["MYNAPORTAL_DATABASE_URL"].startswith(database):
        pytest.skip(f"this flow runs on {database} only (the browser suite's time budget)")


def _card_login(stack: Stack, helper: Helper, browser: object) -> tuple[object, object]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{stack.url}/web/login")
    helper.give_pin(AUTH_PIN)
    page.get_by_role("button", name="カードでログイン").click()
    page.wait_for_url(f"{stack.url}/web/", timeout=20_000)
    return context, page


def test_apply_for_child_allowance_signed_with_the_card_and_the_staff_approve(stack: Stack, helper: Helper,
                                                                             browser) -> None:
    _only_on(stack, "postgresql")
    context, page = _card_login(stack, helper, browser)
    page.goto(f"{stack.url}/web/applications")
    check_page(page, "applications")
    page.locator('form[action="/web/applications/start"]:has(input[value="child_allowance_claim"])') \
        .get_by_role("button", name="申請をはじめる").click()
    page.wait_for_url(re.compile(rf"{re.escape(stack.url)}/web/applications/[0-9a-f-]{{36}}$"))
    where = page.url
    check_page(page, "application-draft")
    page.get_by_label("所得（課税）証明書の代わりに取得することに同意する").check()
    page.get_by_role("button", name="同意して取得する").click()
    page.wait_for_url(re.compile(r"prefilled=1"))
    assert page.get_by_text("情報連携で取得しました。").is_visible()
    page.fill('input[name="claimant.nameKana"]', "ヤマダ タロウ")
    page.check('input[name="claimant.insurance"][value="employee"]')
    page.fill('input[name="child.relationship"]', "子")
    page.check('input[name="child.livesWithClaimant"]')
    page.check('input[name="payTo.usePublicBenefitAccount"]')
    page.get_by_role("button", name="下書きを保存").click()
    page.wait_for_url(re.compile(r"saved=1"))
    assert page.locator("#sign-submit").count() == 1, page.inner_text("main")
    check_page(page, "application-ready")
    helper.give_pin(SIGN_PASSWORD)  # typed at the helper's own prompt
    page.get_by_role("button", name="署名して送信する").click()
    page.locator("p.meta strong", has_text="受付").wait_for(timeout=20_000)
    page.wait_for_load_state()
    assert page.url == where and page.locator("#sign-submit").count() == 0
    check_page(page, "application-sent")
    context.close()

    token = stack.mynaportal("applications", "staff", "--name", "鈴木", "--role", "decider").strip()
    staff = browser.new_context(viewport={"width": 1366, "height": 768}, locale="ja-JP")
    page = staff.new_page()
    page.goto(f"{stack.url}/web/staff")
    assert page.url == f"{stack.url}/web/staff/login"
    check_page(page, "staff-login")
    page.get_by_label("職員用トークン").fill(token)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{stack.url}/web/staff")
    cookie = next(c for c in staff.cookies() if c["name"] == "mp_staff")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/web/staff")
    check_page(page, "staff-inbox")
    page.locator("tbody a").first.click()
    check_page(page, "staff-application")
    page.get_by_role("button", name="審査を始める").click()
    page.wait_for_url(re.compile(r"moved=reviewing$"))
    page.get_by_role("button", name="承認する (完了)").click()
    # The click returns when the redirect commits, before the new page is parsed: wait for its load.
    page.wait_for_url(re.compile(r"moved=completed$"))
    assert page.get_by_text("「完了」にしました。").is_visible()
    assert page.get_by_role("button", name="承認する (完了)").count() == 0
    staff.close()


def test_obtain_a_resident_record_and_see_the_connected_services(stack: Stack, helper: Helper, browser) -> None:
    _only_on(stack, "sqlite")
    context, page = _card_login(stack, helper, browser)
    page.goto(f"{stack.url}/web/certificates")
    page.get_by_label("種類").select_option("resident-record")
    page.get_by_role("button", name="請求する").click()
    page.wait_for_url(re.compile(r"requested=1"))
    check_page(page, "certificates")
    page.get_by_role("button", name="300円を支払う").click()
    page.wait_for_load_state()
    assert page.url.startswith(f"{stack.gateway_url}/pay/"), page.inner_text("body")
    page.fill("input[name=card_number]", "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(rf"{re.escape(stack.url)}/web/payments/[0-9a-f-]+$"), timeout=20_000)
    assert page.get_by_role("heading", level=1).inner_text() == "お支払いが完了しました"
    page.goto(f"{stack.url}/web/certificates")
    page.get_by_role("button", name="お支払い後に受け取る").click()
    page.wait_for_url(re.compile(r"collected="))
    check_page(page, "certificate-issued")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("PDF をダウンロード")).click()
    assert download.value.suggested_filename.startswith("resident-record-")
    assert Path(download.value.path()).read_bytes()[:5] == b"%PDF-"
    page.goto(f"{stack.url}/web/consents")
    assert page.get_by_role("heading", level=1).inner_text().startswith("連携")
    check_page(page, "consents")
    context.close()
