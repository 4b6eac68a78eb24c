"""申請, 証明書 and 連携 in a real browser: a 児童手当 claim prefilled with consent and signed with the card's
signature key through `myna-bridge serve` (the helper asks the password, the page never sees it), approved by
the municipality's staff in their own inbox; a 住民票の写し requested, paid through the sandbox gateway, collected
and downloaded; the 連携サービス page. One database each (the flows are the same on both; the handler tests in
tests/api/web run on both), to keep the suite fast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.web.conftest import AUTH_PIN, Helper, Stack, check_page

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
    page.get_by_role("button", name="承認する (完了)").click()
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
