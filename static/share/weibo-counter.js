/* Live Weibo length counter for share texts: a non-ASCII character counts 1, an ASCII character
   0.5, every URL 10; the limit is 140 (the same rule as share/text.py on the server). Works on
   any textarea or input with a data-weibo-counter attribute, on member pages and in the admin. */
(function () {
  "use strict";
  var URL_RE = /https?:\/\/[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+/gi;
  var LIMIT = 140;

  function weiboLength(text, placeholderLink) {
    if (placeholderLink) {
      text = text.split("{link}").join("https://x.cn/x");
      text = text.split("{member}").join("会会会会会会会会会会").split("{title}").join("题题题题题题题题题题题题题题题题题题题题");
    }
    var urls = text.match(URL_RE) || [];
    var rest = text.replace(URL_RE, "");
    var halves = urls.length * 20;
    for (var i = 0; i < rest.length; i++) {
      halves += rest.charCodeAt(i) < 128 ? 1 : 2;
    }
    return Math.ceil(halves / 2);
  }

  function attach(field) {
    var output = document.createElement("p");
    output.className = "weibo-counter";
    output.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", output);
    var template = field.hasAttribute("data-weibo-template") || field.name.indexOf("template") !== -1;
    function update() {
      var n = weiboLength(field.value, template);
      output.textContent = (template ? "≈ " : "") + n + " / " + LIMIT;
      output.classList.toggle("over", n > LIMIT);
      field.setAttribute("aria-invalid", n > LIMIT ? "true" : "false");
    }
    field.addEventListener("input", update);
    update();
  }

  function init() {
    var fields = document.querySelectorAll("[data-weibo-counter]");
    for (var i = 0; i < fields.length; i++) {
      if (!fields[i].dataset.weiboCounterReady) {
        fields[i].dataset.weiboCounterReady = "1";
        attach(fields[i]);
      }
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
