/* Photo wall: upload without leaving the page and show the processing progress.
   Without JavaScript the form posts normally and the wall page shows the state. */
(function () {
  "use strict";
  function poll(url, show, done) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        show(s);
        if (s.done) { done(s); } else { setTimeout(function () { poll(url, show, done); }, 1000); }
      })
      .catch(function () { setTimeout(function () { poll(url, show, done); }, 3000); });
  }
  document.querySelectorAll("form[data-photo-upload]").forEach(function (form) {
    var status = form.querySelector("[data-upload-status]");
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.FormData) { return; }
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      status.hidden = false;
      status.textContent = form.dataset.uploading || "…";
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return [r.status, body]; }); })
        .then(function (pair) {
          var body = pair[1];
          if (pair[0] >= 400) { status.textContent = body.error; button.disabled = false; return; }
          poll("/community/photos/" + body.id + "/status/", function (s) {
            status.textContent = s.state_label + (s.done ? "" : " · " + s.progress + "%") + (s.error ? "：" + s.error : "");
            status.dataset.state = s.state;
          }, function () { window.location.reload(); });
        })
        .catch(function () { button.disabled = false; });
    });
  });
  document.querySelectorAll("[data-photo-status-url]").forEach(function (item) {
    var url = item.dataset.photoStatusUrl;
    if (!url) { return; }
    poll(url, function () {}, function () { window.location.reload(); });
  });
})();
