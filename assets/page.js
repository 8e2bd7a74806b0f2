// The pages' one script (progressive enhancement: every page works without it). Buttons marked `data-copy` copy the
// text of the element they name, `data-print` prints the page; both stay hidden until this script shows them. Times
// marked `data-local` (written by the server in the account's time zone, or UTC) are shown in the browser's own time
// zone and the page's language (the locale its catalogue writes dates in, `data-date-locale`). A time-zone select marked `data-browser-zone` proposes the browser's zone.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var locale = document.body.getAttribute('data-date-locale') || document.documentElement.lang || undefined;
  var format = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
  document.querySelectorAll('time[data-local]').forEach(function (time) {
    var date = new Date(time.getAttribute('datetime'));
    if (isNaN(date.getTime())) return;
    time.title = time.textContent;
    time.textContent = time.getAttribute('data-local') === 'date'
      ? new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(date)
      : format.format(date);
  });
  document.querySelectorAll('[data-copy]').forEach(function (button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target || !navigator.clipboard) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener('click', function () {
      var text = target.getAttribute('data-text') || target.innerText;
      navigator.clipboard.writeText(text.trim()).then(function () {
        button.textContent = button.getAttribute('data-copied') || 'Copied';
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
  // A time-zone choice with nothing stored yet proposes the browser's own zone (when the list has it).
  document.querySelectorAll('select[data-browser-zone]').forEach(function (select) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (select.value !== '' || !zone) return;
    for (var i = 0; i < select.options.length; i += 1) {
      if (select.options[i].value === zone) {
        select.value = zone;
        return;
      }
    }
  });
  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () { window.print(); });
  });
});
