/* Annonces: live SMS part counts and recipient count while composing; progress polling on the
   report. Everything here only improves the page: without JavaScript, "Compter" and
   "Prévisualiser" show the same numbers, and "Rafraîchir" reloads the report. */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function setList(ul, items) {
    if (!ul) return;
    ul.textContent = "";
    (items || []).forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    });
  }

  function partsLine(info, sameAsFr) {
    if (!info || !info.parts) return "Par SMS : texte vide";
    var line = "Par SMS : " + info.parts + " SMS · " + info.encoding + " · " +
      info.characters + " caractères";
    return sameAsFr ? line + " · texte français envoyé" : line;
  }

  var compose = document.getElementById("compose");
  if (compose) {
    var token = compose.querySelector("input[name=csrf_token]");
    var fields = ["quartier", "sector", "kind", "gender", "needs", "age", "language",
                  "channel", "registered", "channel_policy"];

    var updateParts = debounce(function () {
      var body = new FormData();
      ["title", "text_fr", "text_bm"].forEach(function (name) {
        var el = compose.elements[name];
        body.append(name, el ? el.value : "");
      });
      fetch(compose.dataset.partsUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": token ? token.value : ""}
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (!data || data.error) return;
        ["fr", "bm"].forEach(function (lang) {
          var p = document.getElementById("parts-" + lang);
          if (p) p.textContent = partsLine(data[lang].sms, lang === "bm" && data.bm.same_as_fr);
          setList(document.getElementById("warn-" + lang), data.warnings[lang]);
        });
      }).catch(function () { /* the Compter button still works */ });
    }, 350);

    var output = document.getElementById("segment-count");
    var updateCount = debounce(function () {
      var query = new URLSearchParams();
      fields.forEach(function (name) {
        compose.querySelectorAll("[name='" + name + "']").forEach(function (el) {
          if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
          if (el.value) query.append(name, el.value);
        });
      });
      output.classList.add("busy");
      fetch(compose.dataset.countUrl + "?" + query.toString(), {credentials: "same-origin"})
        .then(function (r) { return r.json(); }).then(function (data) {
          output.classList.remove("busy");
          output.textContent = "";
          if (data.error) { output.textContent = data.error; return; }
          var strong = document.createElement("strong");
          strong.textContent = String(data.reachable);
          output.appendChild(strong);
          var text = " contacts abonnés correspondent";
          (data.notes || []).forEach(function (note) { text += " · " + note; });
          output.appendChild(document.createTextNode(text));
        }).catch(function () { output.classList.remove("busy"); });
    }, 300);

    compose.addEventListener("input", function (event) {
      var name = event.target.name;
      if (name === "title" || name === "text_fr" || name === "text_bm") updateParts();
      if (name === "age") updateCount();
    });
    compose.addEventListener("change", function (event) {
      if (fields.indexOf(event.target.name) >= 0) updateCount();
    });
  }

  var progress = document.getElementById("progress");
  if (progress && progress.dataset.final !== "true") {
    var poll = function () {
      fetch(progress.dataset.statusUrl, {credentials: "same-origin"})
        .then(function (r) { return r.json(); }).then(function (data) {
          Object.keys(data.progress).forEach(function (key) {
            var el = progress.querySelector("[data-count='" + key + "']");
            if (el) el.textContent = String(data.progress[key]);
          });
          var label = document.getElementById("state-label");
          if (label) label.textContent = data.state_label;
          if (data.final) { window.location.reload(); } else { setTimeout(poll, 5000); }
        }).catch(function () { setTimeout(poll, 15000); });
    };
    setTimeout(poll, 5000);
  }
})();
