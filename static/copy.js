// A "Copy" button beside a read-only field: the button is hidden until this
// script runs, so without it the page shows the field to select by hand.
// <button type="button" data-copy="field-id" hidden>Copy</button>, with a
// live region (data-copied="field-id") that says when it worked.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.dataset.copy);
  var said = document.querySelector('[data-copied="' + button.dataset.copy + '"]');
  if (!field || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(
      function () {
        if (said) {
          said.textContent = "Copied. Paste it where you need it.";
        }
      },
      function () {
        field.select();
        if (said) {
          said.textContent = "Could not copy: the link is selected, copy it with your keyboard.";
        }
      }
    );
  });
});
