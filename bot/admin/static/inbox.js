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

/* Saved replies: "Utiliser" puts the chosen text in the reply box here, without a round
 * trip (without JavaScript the button asks the server, which does the same). */
(function () {
  "use strict";
  var use = document.getElementById("use-saved");
  var pick = document.getElementById("saved");
  var box = document.getElementById("reply-text");
  if (!use || !pick || !box) { return; }
  use.addEventListener("click", function (event) {
    event.preventDefault();
    var option = pick.options[pick.selectedIndex];
    if (!option) { return; }
    box.value = option.getAttribute("data-text");
    box.dispatchEvent(new Event("input", {bubbles: true}));  // the part counter follows
    box.focus();
  });
})();
