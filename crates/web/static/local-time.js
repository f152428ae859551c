// Shows the portal's times in the reader's own time zone. The server
// writes them in UTC, which is what a page without scripts shows; each
// <time data-start> (with data-end for a meeting) is rewritten in the
// browser's zone, and its title keeps the UTC text. All-day meetings carry
// no data-start: a day is the same day everywhere. No inline script: the CSP.
(function () {
  'use strict';
  const format = new Intl.DateTimeFormat('en-GB', {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short',
  });
  const zone = format.resolvedOptions().timeZone;

  function parts(date) {
    const p = {};
    for (const { type, value } of format.formatToParts(date)) p[type] = value;
    return { day: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}`, zone: p.timeZoneName };
  }

  function localise(root) {
    for (const el of root.querySelectorAll('time[data-start]')) {
      const start = new Date(el.dataset.start);
      if (Number.isNaN(start.getTime())) continue;
      const s = parts(start);
      let text = `${s.day} ${s.time}`;
      const end = el.dataset.end ? new Date(el.dataset.end) : null;
      if (end && !Number.isNaN(end.getTime())) {
        const e = parts(end);
        text += e.day === s.day ? `–${e.time}` : `–${e.day} ${e.time}`;
      }
      if (!el.title) el.title = el.textContent;
      el.textContent = `${text} ${s.zone}`;
    }
    for (const name of root.querySelectorAll('.tz-name')) name.textContent = zone;
  }

  document.addEventListener('DOMContentLoaded', () => localise(document));
  // "Older" items and the sync health table arrive through htmx; a time
  // already shown locally keeps its UTC title and is written again alike.
  document.addEventListener('htmx:afterSettle', () => localise(document));
})();
