// The service worker (served at /sw.js, scope /): shows what the server
// pushes (Web Push) as a notification and opens its page on a click.
// It caches nothing and handles no fetches: the site works as before.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// sameOrigin keeps a pushed url on this site (anything else opens the
// dashboard), so a message can never send the user elsewhere.
function sameOrigin(u) {
  try {
    const url = new URL(u || '/', self.location.origin);
    if (url.origin === self.location.origin) return url.href;
  } catch (_) { /* not a URL */ }
  return self.location.origin + '/';
}

// The payload is small JSON: {"title","body","url","tag"}.
self.addEventListener('push', (event) => {
  let msg = {};
  if (event.data) {
    try { msg = event.data.json(); } catch (_) { msg = { body: event.data.text() }; }
  }
  const str = (v) => (typeof v === 'string' ? v : '');
  const opts = { body: str(msg.body), data: { url: sameOrigin(str(msg.url)) } };
  if (str(msg.tag)) opts.tag = str(msg.tag);
  event.waitUntil(self.registration.showNotification(str(msg.title) || 'tracker', opts));
});

// A click focuses a tab already showing the url, else another tab of
// the site (sent there), else opens a new window.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = sameOrigin(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const tabs = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const same = tabs.find((c) => c.url === url);
    if (same) return same.focus();
    const ours = tabs.find((c) => new URL(c.url).origin === self.location.origin);
    if (ours) {
      try {
        const c = await ours.focus();
        return await (c || ours).navigate(url);
      } catch (_) { /* a tab this worker does not control cannot be sent elsewhere */ }
    }
    return self.clients.openWindow(url);
  })());
});

// The push service replaced the subscription (keys rotated, or it
// expired): subscribe again with the server's key and tell the server,
// removing the old one.
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const res = await fetch('/api/v1/push/key', { credentials: 'same-origin' });
    if (!res.ok) return;
    const { public_key: key } = await res.json();
    const sub = await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    await fetch('/api/v1/push/subscriptions', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(sub),
    });
    if (event.oldSubscription) {
      await fetch('/api/v1/push/subscriptions', {
        method: 'DELETE', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ endpoint: event.oldSubscription.endpoint }),
      });
    }
  })());
});
