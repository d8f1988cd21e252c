// Staff interface, every page: on a phone the menu starts folded behind its "Menu" button
// (the page's own content then starts at the top of the screen); wider screens show it open.
// Without this script the menu is simply open everywhere.
(function () {
  var menu = document.querySelector("header.top .menu");
  if (!menu || !window.matchMedia) { return; }
  var phone = window.matchMedia("(max-width: 640px)");
  function fit() { menu.open = !phone.matches; }
  fit();
  if (phone.addEventListener) { phone.addEventListener("change", fit); }
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && phone.matches && menu.open) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
})();
