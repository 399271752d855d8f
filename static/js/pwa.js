// Installs the service worker (core/pwa.py): it keeps only the offline page and static files.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", function () {
    navigator.serviceWorker.register("/sw.js").catch(function () { /* the site works without it */ });
  });
}
