// Sign an application with the card's signature key through the local helper (myna-bridge serve): the helper
// shows the document and asks the signature password itself; the page never sees it.
(function () {
  "use strict";
  var form = document.getElementById("sign-submit");
  if (!form) return;
  var status = document.getElementById("sign-status");
  var csrf = form.dataset.csrf, base = "/web/applications/" + form.dataset.application;
  function say(text) { status.textContent = text; }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var button = document.getElementById("sign-submit-button");
    button.disabled = true;
    try {
      say("申請書を準備しています…");
      var prepared = await fetch(base + "/to-sign", {method: "POST", headers: {"X-CSRF-Token": csrf}});
      if (!prepared.ok) throw new Error("to-sign");
      var document_ = await prepared.json();
      say("カード読み取りアプリの画面で内容を確かめ、署名用パスワードを入力してください…");
      var helper;
      try {
        helper = await fetch(form.dataset.helper + "/web-eid/sign", {
          method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({document: document_.document})});
      } catch (e) {
        say("カード読み取りアプリ (myna-bridge serve) が動いていません。起動してからもう一度お試しください。");
        return;
      }
      var token = await helper.json();
      if (!helper.ok) { say(token.message || "カードを読み取れませんでした。"); return; }
      var done = await fetch(base + "/submit", {method: "POST", headers: {"X-CSRF-Token": csrf,
        "Content-Type": "application/json"}, body: JSON.stringify(token)});
      if (done.ok) { var answer = await done.json(); say("送信しました。受付番号 " + answer.receptionNumber);
        window.location.assign(answer.next); return; }
      say("送信できませんでした。もう一度お試しください。");
    } catch (e) {
      say("送信できませんでした。もう一度お試しください。");
    } finally {
      button.disabled = false;
    }
  });
})();
