/* Real-time notifications: a websocket with reconnect and backoff, a toast, an unread badge.
 * After every (re)connect the script asks the server what it missed, so a notification is
 * never lost because the socket was down. No dependencies. */
(function () {
  "use strict";
  var root = document.querySelector("[data-live]");
  if (!root || !window.WebSocket) { return; }
  var badge = document.getElementById("notification-badge");
  var apiUrl = root.getAttribute("data-api");
  var lastId = parseInt(root.getAttribute("data-last-id") || "0", 10);
  var delay = 1000;
  var toasts = document.createElement("div");
  toasts.className = "toasts";
  toasts.setAttribute("role", "status");
  toasts.setAttribute("aria-live", "polite");
  document.body.appendChild(toasts);

  function setUnread(count) {
    // The header's bell and the 我的 tab carry the same count.
    document.querySelectorAll("[data-unread-badge]").forEach(function (el) {
      el.textContent = count > 99 ? "99+" : String(count);
      el.hidden = count <= 0;
      el.setAttribute("data-count", String(count));
    });
  }

  function toast(item) {
    var el = document.createElement(item.link ? "a" : "div");
    el.className = "toast";
    if (item.link) { el.href = item.link; }
    var title = document.createElement("strong");
    title.textContent = item.title || "";
    el.appendChild(title);
    if (item.body) {
      var body = document.createElement("span");
      body.textContent = " " + item.body;
      el.appendChild(body);
    }
    toasts.appendChild(el);
    setTimeout(function () { el.remove(); }, 6000);
  }

  function catchUp() {
    fetch(apiUrl + "?after=" + lastId, { credentials: "same-origin",
      headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        data.items.forEach(function (item) {
          if (item.id > lastId) { lastId = item.id; toast(item); }
        });
        setUnread(data.unread);
      })
      .catch(function () {});
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/events/");
    socket.onopen = function () { delay = 1000; catchUp(); };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "notification") {
        if (data.id) {
          if (data.id <= lastId) { return; }
          lastId = data.id;
        }
        toast(data);
        var current = parseInt(badge ? badge.getAttribute("data-count") || "0" : "0", 10);
        setUnread(current + 1);
      }
      document.dispatchEvent(new CustomEvent("club:event", { detail: data }));
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) { return; }  // not allowed: stay closed
      setTimeout(connect, delay + Math.random() * 500);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
