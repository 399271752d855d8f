// The staff check-in scanner: reads membership-card QR codes from the phone camera with jsQR
// (static/vendor/jsqr-1.4.0.js) and posts each new code; typed codes go the same way.
(function () {
  "use strict";
  var root = document.querySelector("[data-scanner]");
  if (!root) return;
  var form = root.querySelector("[data-typed-form]");
  var input = form.querySelector("input[name=code]");
  var token = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var result = root.querySelector("[data-result]");
  var attended = root.querySelector("[data-attended]");
  var seats = root.querySelector("[data-seats]");
  var start = root.querySelector("[data-start-camera]");
  var cameraBox = root.querySelector("[data-camera-box]");
  var cameraError = root.querySelector("[data-camera-error]");
  var video = root.querySelector("[data-video]");
  var canvas = root.querySelector("[data-canvas]");
  var lastCode = "";
  var lastAt = 0;
  var busy = false;

  function show(kind, message) {
    result.className = "scan-result " + kind;
    result.textContent = message;
    result.hidden = false;
  }

  function submit(code) {
    if (busy) return;
    busy = true;
    var body = new URLSearchParams({ code: code });
    fetch(form.action, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { Accept: "application/json", "X-CSRFToken": token }
    })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var kind = data.result === "ok" ? "ok" : data.result === "already" ? "already" : "error";
        var who = data.member ? " · " + [data.member.tier, data.member.number].filter(Boolean).join(" · ") : "";
        show(kind, data.message + who);
        if (data.counts) {
          attended.textContent = String(data.counts.attended);
          seats.textContent = String(data.counts.seats);
        }
      })
      .catch(function () { show("error", root.getAttribute("data-offline-message")); })
      .then(function () { busy = false; });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = input.value.trim();
    if (code) submit(code);
    input.value = "";
  });

  function tick() {
    if (video.readyState >= video.HAVE_ENOUGH_DATA && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      var now = Date.now();
      // The same code twice within a few seconds is one scan (the card stays in front of the lens).
      if (found && found.data && (found.data !== lastCode || now - lastAt > 5000)) {
        lastCode = found.data;
        lastAt = now;
        submit(found.data);
      }
    }
    setTimeout(tick, 200);
  }

  function startCamera() {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (stream) {
        video.srcObject = stream;
        cameraBox.hidden = false;
        start.hidden = true;
        return video.play();
      })
      .then(tick)
      .catch(function () {
        cameraError.hidden = false;
        start.hidden = true;
      });
  }

  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.jsQR) {
    start.hidden = false;
    start.addEventListener("click", startCamera);
  } else {
    cameraError.hidden = false;
  }
})();
