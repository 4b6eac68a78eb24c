// Card login through the local helper (myna-bridge serve): the page never sees the PIN.
(function () {
  "use strict";
  var form = document.getElementById("card-login");
  if (!form) return;
  var status = document.getElementById("card-status");
  var csrf = form.dataset.csrf;
  function say(text) { status.textContent = text; }
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var button = document.getElementById("card-login-button");
    button.disabled = true;
    try {
      say("ログインの準備をしています…");
      var started = await fetch("/web/login/card/challenge", {method: "POST", headers: {"X-CSRF-Token": csrf}});
      if (!started.ok) throw new Error("challenge");
      var challenge = await started.json();
      say("カード読み取りアプリの画面で暗証番号を入力してください…");
      var helper;
      try {
        helper = await fetch(form.dataset.helper + "/web-eid/authenticate", {
          method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({challenge: challenge.challenge})});
      } catch (e) {
        say("カード読み取りアプリ (myna-bridge serve) が動いていません。起動してからもう一度お試しください。");
        return;
      }
      var token = await helper.json();
      if (!helper.ok) { say(token.message || "カードを読み取れませんでした。"); return; }
      token.sharedTerminal = document.getElementById("shared").checked;
      var done = await fetch("/web/login/card", {method: "POST", headers: {"X-CSRF-Token": csrf,
        "Content-Type": "application/json"}, body: JSON.stringify(token)});
      if (done.ok) { say("ログインしました。"); window.location.assign((await done.json()).next); return; }
      say("ログインできませんでした。もう一度お試しください。");
    } catch (e) {
      say("ログインできませんでした。もう一度お試しください。");
    } finally {
      button.disabled = false;
    }
  });
})();
