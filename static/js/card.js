// The membership card's check-in QR code: counts down and fetches the next code from the
// server each time step. Nothing is stored: the code lives in this page only.
(function () {
  "use strict";
  var box = document.querySelector("[data-card-code]");
  if (!box) return;
  var url = box.getAttribute("data-url");
  var qr = box.querySelector("[data-qr]");
  var text = box.querySelector("[data-code]");
  var countdown = box.querySelector("[data-countdown]");
  var countdownText = box.querySelector("[data-countdown-text]");
  var offline = box.querySelector("[data-offline]");
  var left = parseInt(box.getAttribute("data-expires-in"), 10) || 30;
  var fetching = false;

  function stale(isStale) {
    box.classList.toggle("stale", isStale);
    offline.hidden = !isStale;
    countdownText.hidden = isStale;
  }

  function refresh() {
    if (fetching) return;
    fetching = true;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        qr.innerHTML = data.svg;
        text.textContent = data.code;
        left = data.expires_in;
        countdown.textContent = String(left);
        stale(false);
      })
      .catch(function () {
        stale(true);
        left = 5;
      })
      .then(function () { fetching = false; });
  }

  setInterval(function () {
    left -= 1;
    if (left <= 0) {
      refresh();
    } else {
      countdown.textContent = String(left);
    }
  }, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });
})();
