// A single view's rows kept fresh while partners answer. The page works without this file: its "Refresh the rows"
// link reloads it. This asks the rows fragment every few seconds while the view is in progress; the server answers
// 204 while nothing changed, and the new rows replace the old ones (markup the server escaped; no inline script).
(function () {
  'use strict'
  var EVERY_MS = 2000

  function poll () {
    var rows = document.getElementById('single-view-rows')
    if (!rows || rows.getAttribute('data-complete') === 'true') return
    var url = rows.getAttribute('data-rows-url') + '?seen=' + encodeURIComponent(rows.getAttribute('data-version'))
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (answer) {
        if (answer.status === 204) return null
        if (!answer.ok) throw new Error('rows answered ' + answer.status)
        return answer.text()
      })
      .then(function (html) {
        if (html !== null) {
          var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('single-view-rows')
          if (!fresh) throw new Error('no rows in the answer')
          rows.replaceWith(document.adoptNode(fresh))
          var status = document.getElementById('single-view-status')
          if (status) status.textContent = 'Updated: ' + fresh.getAttribute('data-summary')
        }
        window.setTimeout(poll, EVERY_MS)
      })
      .catch(function () { /* signed out or the node is away: the Refresh link still works */ })
  }

  window.setTimeout(poll, EVERY_MS)
})()
