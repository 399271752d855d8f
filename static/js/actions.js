/* In-place actions (htmx, static/vendor): what the page does around them.
 * - A request that fails outright (no network, a server error, a refusal page) says so in the
 *   message region, whose text the server rendered in the member's language.
 * - The unread badges follow the count a "mark read" answer carries (HX-Trigger club:unread).
 * - While a request is under way its form shows a spinner and its button is disabled
 *   (hx-disabled-elt, set here for every in-place form). */
(function () {
  "use strict";
  if (!window.htmx) { return; }
  htmx.config.scrollIntoViewOnBoost = false;

  function say(text) {
    var region = document.getElementById("messages");
    if (!region) { return; }
    var list = document.createElement("ul");
    list.className = "messages";
    var item = document.createElement("li");
    item.className = "message error";
    item.textContent = text || region.getAttribute("data-failed");
    list.appendChild(item);
    region.replaceChildren(list);
  }
  document.body.addEventListener("htmx:responseError", function () { say(); });
  document.body.addEventListener("htmx:sendError", function () { say(); });

  document.body.addEventListener("club:unread", function (event) {
    var count = event.detail && typeof event.detail.value === "number" ? event.detail.value : 0;
    document.querySelectorAll("[data-unread-badge]").forEach(function (el) {
      el.textContent = count > 99 ? "99+" : String(count);
      el.hidden = count <= 0;
      el.setAttribute("data-count", String(count));
    });
  });

  document.body.addEventListener("htmx:configRequest", function (event) {
    // A new message replaces the last one: clear it when the member acts again.
    var region = document.getElementById("messages");
    if (region) { region.replaceChildren(); }
    var form = event.detail.elt;
    if (form && form.tagName === "FORM" && !form.hasAttribute("hx-disabled-elt")) {
      form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.tagName === "FORM" && document.body.contains(form)) {
      form.querySelectorAll("button").forEach(function (button) { button.disabled = false; });
    }
  });
})();
