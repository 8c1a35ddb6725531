// "Enable notifications on this browser" (views/pushenable.templ):
// registers the service worker (/sw.js, scope /), asks for permission,
// subscribes with the server's VAPID key and hands the subscription to
// the server; "Stop" unsubscribes and tells the server; the list shows
// the user's subscribed browsers, each removable.
(function () {
  'use strict';
  const root = document.querySelector('[data-push]');
  if (!root) return;
  const status = root.querySelector('[data-testid="push-status"]');
  const on = root.querySelector('[data-testid="push-on"]');
  const off = root.querySelector('[data-testid="push-off"]');
  const list = root.querySelector('[data-testid="push-browsers"]');
  const say = (text) => { status.textContent = text; };
  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

  async function api(method, url, body) {
    const init = { method, credentials: 'same-origin', headers: {} };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(url, init);
    if (!res.ok) throw new Error((await res.text()).trim() || res.statusText);
    return res.status === 204 ? null : res.json();
  }

  // The VAPID key arrives in base64url; PushManager wants its bytes.
  function keyBytes(b64) {
    const s = b64.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  // The server names a subscription by the first 8 bytes of its
  // endpoint's SHA-256 (projections.PushSubscriptionID).
  async function idOf(endpoint) {
    if (!endpoint || !(self.crypto && crypto.subtle)) return '';
    const sum = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(endpoint)));
    return Array.from(sum.slice(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function registration() {
    return navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(() => navigator.serviceWorker.ready);
  }

  async function current() {
    if (!supported) return null;
    const reg = await registration();
    return reg.pushManager.getSubscription();
  }

  async function showList(mine) {
    let browsers = [];
    try {
      browsers = await api('GET', '/api/v1/push/subscriptions');
    } catch (e) {
      list.replaceChildren(Object.assign(document.createElement('li'), { className: 'note', textContent: e.message }));
      return;
    }
    if (browsers.length === 0) {
      list.replaceChildren(Object.assign(document.createElement('li'), { className: 'note', textContent: 'None yet.' }));
      return;
    }
    list.replaceChildren(...browsers.map((b) => {
      const li = document.createElement('li');
      li.dataset.testid = 'push-browser';
      const since = new Date(b.created);
      li.append(document.createTextNode((b.label || 'A browser') + (b.id === mine ? ' (this browser)' : '') +
        ' — via ' + b.service.replace(/^https?:\/\//, '') + ', since ' + since.toLocaleDateString() + ' '));
      const rm = Object.assign(document.createElement('button'), { type: 'button', className: 'small', textContent: 'Remove' });
      rm.setAttribute('aria-label', 'Remove ' + (b.label || 'this browser'));
      rm.addEventListener('click', async () => {
        rm.disabled = true;
        try {
          await api('DELETE', '/api/v1/push/subscriptions?id=' + encodeURIComponent(b.id));
          if (b.id === mine) {
            const sub = await current();
            if (sub) await sub.unsubscribe();
          }
        } catch (e) { say(e.message); }
        refresh();
      });
      li.append(rm);
      return li;
    }));
  }

  async function refresh() {
    on.hidden = true;
    off.hidden = true;
    if (!supported) {
      say(window.isSecureContext ? 'This browser cannot receive push notifications.'
        : 'Notifications need this site on HTTPS (or localhost).');
      showList('');
      return;
    }
    let sub = null;
    try {
      sub = await current();
    } catch (e) {
      say('The service worker did not start: ' + e.message);
    }
    const mine = sub ? await idOf(sub.endpoint) : '';
    if (Notification.permission === 'denied') {
      say('Notifications are blocked for this site in the browser settings.');
    } else if (sub) {
      say('This browser gets your notifications.');
      off.hidden = false;
    } else {
      say('This browser does not get your notifications.');
      on.hidden = false;
    }
    showList(mine);
  }

  on.addEventListener('click', async () => {
    on.disabled = true;
    try {
      if (await Notification.requestPermission() !== 'granted') {
        say('Notifications were not allowed.');
        return;
      }
      const { public_key: key } = await api('GET', '/api/v1/push/key');
      const reg = await registration();
      // A browser without a working push service (Chromium built without
      // Google's keys, a headless one) may never answer: give up after 15 s.
      const sub = await Promise.race([
        reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
        new Promise((_, no) => setTimeout(() => no(new Error("the browser's push service did not answer")), 15000)),
      ]);
      await api('POST', '/api/v1/push/subscriptions', sub.toJSON());
    } catch (e) {
      say('Could not enable notifications: ' + e.message);
      on.disabled = false;
      return;
    }
    on.disabled = false;
    refresh();
  });

  off.addEventListener('click', async () => {
    off.disabled = true;
    try {
      const sub = await current();
      if (sub) {
        await api('DELETE', '/api/v1/push/subscriptions', { endpoint: sub.endpoint }).catch(() => {});
        await sub.unsubscribe();
      }
    } catch (e) { say(e.message); }
    off.disabled = false;
    refresh();
  });

  refresh();
})();
