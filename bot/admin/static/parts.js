/* Live SMS part counts (bot/admin/parts.py), for any text field of the staff interface.
 *
 * Mark a <textarea> or <input> with data-parts-channel ("sms", "whatsapp" or "none") and,
 * optionally:
 *   data-parts-language="fr|bm"      folding rules of that language
 *   data-parts-limit="1"             most SMS parts allowed (shown as an error when exceeded)
 *   data-parts-channel-from="#sel"   read the channel from that <select>/<input> instead
 *   data-parts-output="id"           element to write the count into (else one is created
 *                                    right after the field: <p class="parts-count">)
 *   data-parts-url="/admin/sms/parts" the endpoint (default shown)
 * The counter text comes from the server (the bot's own bot.sms functions). Requests are
 * debounced, the CSRF token of the field's form (or of the page) is sent as X-CSRFToken, and
 * only the latest answer is shown. Without JavaScript nothing changes: pages show the same
 * count after a submit.
 */
(function () {
  "use strict";
  var DELAY = 350;

  function token(field) {
    var scope = field.form || document;
    var input = scope.querySelector("input[name=csrf_token]") ||
      document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function output(field) {
    var id = field.getAttribute("data-parts-output");
    var el = id ? document.getElementById(id) : null;
    if (!el) {
      el = document.createElement("p");
      el.className = "parts-count";
      if (field.id) { el.id = field.id + "-parts"; }
      field.insertAdjacentElement("afterend", el);
      if (el.id) { field.setAttribute("data-parts-output", el.id); }
    }
    el.setAttribute("aria-live", "polite");
    return el;
  }

  function channelOf(field) {
    var from = field.getAttribute("data-parts-channel-from");
    var el = from ? document.querySelector(from) : null;
    return (el && el.value) || field.getAttribute("data-parts-channel") || "sms";
  }

  function show(el, data) {
    el.textContent = "";
    el.classList.remove("over", "paged", "ucs2");
    var line = document.createElement("span");
    line.className = "parts-summary";
    line.textContent = data.summary;
    el.appendChild(line);
    if (data.too_long) { el.classList.add("over"); }
    else if (data.paged) { el.classList.add("paged"); }
    if (!data.gsm7 && data.channel !== "whatsapp") { el.classList.add("ucs2"); }
    if (data.changed) {
      var sent = document.createElement("span");
      sent.className = "parts-rendered";
      sent.textContent = (el.getAttribute("data-rendered-label") || "Texte réellement envoyé :") +
        " " + data.rendered;
      el.appendChild(sent);
    }
  }

  function attach(field) {
    var el = output(field);
    var timer = null;
    var serial = 0;
    var controller = null;

    function measure() {
      serial += 1;
      var mine = serial;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var body = new URLSearchParams();
      body.set("text", field.value);
      body.set("channel", channelOf(field));
      if (field.getAttribute("data-parts-language")) {
        body.set("language", field.getAttribute("data-parts-language"));
      }
      if (field.getAttribute("data-parts-limit")) {
        body.set("limit", field.getAttribute("data-parts-limit"));
      }
      fetch(field.getAttribute("data-parts-url") || "/admin/sms/parts", {
        method: "POST", body: body, credentials: "same-origin",
        headers: {"X-CSRFToken": token(field), "Accept": "application/json"},
        signal: controller ? controller.signal : undefined
      }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (data) {
        if (mine === serial) { show(el, data); }
      }).catch(function () { /* offline or aborted: keep the last count */ });
    }

    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(measure, DELAY);
    }

    field.addEventListener("input", later);
    var from = field.getAttribute("data-parts-channel-from");
    var source = from ? document.querySelector(from) : null;
    if (source) { source.addEventListener("change", measure); }
    if (!el.textContent.trim()) { measure(); }
  }

  function init() {
    var fields = document.querySelectorAll("[data-parts-channel]");
    for (var i = 0; i < fields.length; i++) { attach(fields[i]); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
