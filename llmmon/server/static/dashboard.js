// llmmon dashboard: submit a filter form as soon as one of its menus changes.
// Plain HTML forms work without this script; it only saves a click.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () {
        // Empty fields would only clutter the URL.
        form.querySelectorAll("input, select").forEach(function (field) {
          if (!field.value) { field.disabled = true; }
        });
        form.submit();
      });
    });
  });
});
