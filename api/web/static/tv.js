// A TV remote: the arrow keys move between the items, Enter opens one.
(function () {
  "use strict";
  var items = Array.prototype.slice.call(document.querySelectorAll(".tv-item"));
  if (!items.length) return;
  items[0].focus();
  document.addEventListener("keydown", function (event) {
    var at = items.indexOf(document.activeElement);
    var step = {ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1}[event.key];
    if (!step) return;
    event.preventDefault();
    var next = at < 0 ? 0 : Math.min(items.length - 1, Math.max(0, at + step));
    items[next].focus();
  });
})();
