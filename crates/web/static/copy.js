// Copy buttons: <button data-copy-target="ID"> copies the text of element ID
// to the clipboard and says so. Loaded as a file: the CSP forbids inline JS.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy-target]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy-target"));
  if (!source || !navigator.clipboard) return;
  var label = button.textContent;
  navigator.clipboard.writeText(source.textContent.trim()).then(function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 2000);
  }, function () {
    button.textContent = "Select and copy it by hand";
  });
});
