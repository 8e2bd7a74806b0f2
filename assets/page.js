// The pages' one script (progressive enhancement: every page works without it). Buttons marked `data-copy` copy the
// text of the element they name, `data-print` prints the page; both stay hidden until this script shows them. Times
// marked `data-local` (written in UTC by the server) are shown in the browser's own time zone and language.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  var format = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });
  document.querySelectorAll('time[data-local]').forEach(function (time) {
    var date = new Date(time.getAttribute('datetime'));
    if (isNaN(date.getTime())) return;
    time.title = time.textContent;
    time.textContent = time.getAttribute('data-local') === 'date'
      ? new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: 'medium' }).format(date)
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
  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener('click', function () { window.print(); });
  });
});
