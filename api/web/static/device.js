// Waits for the app's approval of the sign-in shown (RFC 8628 polling, at the server's interval).
(function () {
  "use strict";
  var box = document.getElementById("device");
  if (!box) return;
  var interval = Number(box.dataset.interval || 5) * 1000;
  var status = document.getElementById("device-status");
  async function poll() {
    var answer;
    try {
      var response = await fetch("/web/device/poll", {method: "POST", headers: {"X-CSRF-Token": box.dataset.csrf}});
      answer = await response.json();
    } catch (e) { setTimeout(poll, interval); return; }
    if (answer.state === "done") { status.textContent = "承認されました。"; window.location.assign(answer.next); return; }
    if (answer.state === "ended") { status.textContent = answer.message; return; }
    if (answer.slowDown) interval += 5000;
    setTimeout(poll, interval);
  }
  setTimeout(poll, interval);
})();
