/* Boîte de réception: on a slow line a second click on "Envoyer" would send the reply twice;
 * the button is disabled once the form is on its way (the server also refuses a reply to a
 * ticket the first one closed). */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form.reply-form");
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || button.value !== "send") { return; }
      // Disabled after the form data is built, so "action=send" is still submitted.
      setTimeout(function () { button.disabled = true; }, 0);
    });
  }
})();
