/* @mention suggestions in comment boxes. Progressive enhancement: without JavaScript (or when
   the look-up fails) members type "@" and the Weibo screen name themselves, and the comment
   works the same. The list only offers members who may read the item (the server asks the
   gate); choosing one writes "@screen name " into the box. */
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var RUN = /@([^\s@,.!?;:，。！？、；：()（）\[\]【】<>《》"'“”‘’]{1,30})$/;

  function attach(box) {
    var url = box.getAttribute("data-mention-url");
    var list = document.createElement("ul");
    var timer = null, items = [], active = -1, run = null, asked = 0;
    list.className = "mention-suggestions";
    list.id = box.id + "-mentions";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", list.id);
    box.parentNode.insertBefore(list, box.nextSibling);

    function close() {
      list.hidden = true;
      list.textContent = "";
      items = [];
      active = -1;
      box.removeAttribute("aria-activedescendant");
      box.setAttribute("aria-expanded", "false");
    }

    function mark(index) {
      active = index;
      Array.prototype.forEach.call(list.children, function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0) { box.setAttribute("aria-activedescendant", list.id + "-" + index); }
    }

    function choose(index) {
      var item = items[index];
      if (!item || run === null) { return; }
      var caret = box.selectionStart;
      var before = box.value.slice(0, caret - run.length);
      var written = item.handle + " ";
      box.value = before + written + box.value.slice(caret);
      var at = before.length + written.length;
      box.setSelectionRange(at, at);
      close();
      box.focus();
    }

    function show(results) {
      close();
      items = results;
      results.forEach(function (result, index) {
        var li = document.createElement("li");
        li.id = list.id + "-" + index;
        li.setAttribute("role", "option");
        if (result.avatar) {
          var img = document.createElement("img");
          img.src = result.avatar;
          img.alt = "";
          img.width = 20;
          img.height = 20;
          img.loading = "lazy";
          img.referrerPolicy = "no-referrer";
          li.appendChild(img);
        }
        var handle = document.createElement("span");
        handle.textContent = "@" + result.handle;
        li.appendChild(handle);
        if (result.name && result.name !== result.handle) {
          var name = document.createElement("small");
          name.textContent = result.name;
          li.appendChild(name);
        }
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(index);
        });
        list.appendChild(li);
      });
      if (results.length) {
        list.hidden = false;
        box.setAttribute("aria-expanded", "true");
        mark(0);
      }
    }

    function lookup() {
      var found = RUN.exec(box.value.slice(0, box.selectionStart));
      if (!found) { run = null; close(); return; }
      run = found[1];
      var mine = ++asked;
      fetch(url + "?q=" + encodeURIComponent(run), {
        credentials: "same-origin", headers: { Accept: "application/json" }
      })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) { if (mine === asked) { show(data.results || []); } })
        .catch(close);
    }

    box.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 200);
    });
    box.addEventListener("keydown", function (event) {
      if (list.hidden) { return; }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : items.length - 1;
        mark((active + step) % items.length);
      } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
        event.preventDefault();
        choose(active);
      } else if (event.key === "Escape") {
        close();
      }
    });
    box.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  document.querySelectorAll("textarea[data-mention-url]").forEach(attach);
})();
