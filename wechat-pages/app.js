/*
 * app.js — the code the pages share: WeChat sign-in (OAuth through
 * /api/v1/auth/wechat/authorize), calls to the JSON API with the stored token, WeUI feedback
 * (error tips, toasts, busy buttons), buying a credit package with WeChat Pay (JSAPI), and
 * photos: scaling a very large one down, uploading with progress, the JS-SDK's chooseImage
 * and previewImage inside WeChat.
 *
 * No framework and no build step: plain ES2017 that WeChat's built-in browser runs.
 * Everything is reached through the one global `AP`.
 */
(function () {
	'use strict';

	var API = '/api/v1';
	var TOKEN_KEY = 'aiphoto.token';
	var SIGNIN_KEY = 'aiphoto.signin'; // sessionStorage: times of recent trips to sign-in
	var SIGNIN_MAX = 3; // trips within SIGNIN_WINDOW before the page stops and asks
	var SIGNIN_WINDOW = 60000;
	var POLL_EVERY = 1500; // ms between order checks after paying
	var POLL_FOR = 90000; // give up waiting for the order after this long
	var BRIDGE_WAIT = 8000; // ms to wait for WeixinJSBridgeReady inside WeChat
	// the address the page was opened at, before any history.replaceState (the JS-SDK on iOS)
	var LANDING_URL = location.href.split('#')[0];

	var KIND_NAMES = {
		recharge: '充值',
		consume: '消费',
		refund: '退款',
		checkin: '签到',
		invite: '邀请奖励',
		admin: '系统调整',
		migration: '数据迁移'
	};

	/* ------------------------------------------------------------------ DOM helpers */

	function $(sel, root) {
		return (root || document).querySelector(sel);
	}

	/* el('div', {class: 'x', text: 'y'}, [children]) — text is always set as text, never HTML. */
	function el(tag, attrs, children) {
		var node = document.createElement(tag);
		Object.keys(attrs || {}).forEach(function (k) {
			var v = attrs[k];
			if (v === undefined || v === null || v === false) return;
			if (k === 'text') node.textContent = String(v);
			else if (k === 'class') node.className = v;
			else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
			else node.setAttribute(k, v === true ? '' : String(v));
		});
		(children || []).forEach(function (c) {
			if (c) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
		});
		return node;
	}

	function setText(sel, text) {
		var n = typeof sel === 'string' ? $(sel) : sel;
		if (n) n.textContent = String(text);
	}

	function yuan(fen) {
		return '¥' + (Number(fen) / 100).toFixed(2);
	}

	function pad2(n) {
		return (n < 10 ? '0' : '') + n;
	}

	/* An RFC 3339 time as local "YYYY-MM-DD HH:MM". */
	function when(s) {
		var d = new Date(s);
		if (isNaN(d.getTime())) return s || '';
		return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
			pad2(d.getHours()) + ':' + pad2(d.getMinutes());
	}

	function randomKey() {
		var b = new Uint8Array(16);
		(window.crypto || window.msCrypto).getRandomValues(b);
		return 'h5-' + Array.prototype.map.call(b, function (x) {
			return (x < 16 ? '0' : '') + x.toString(16);
		}).join('');
	}

	function sleep(ms) {
		return new Promise(function (r) { setTimeout(r, ms); });
	}

	/* ------------------------------------------------------------------ feedback */

	var tipTimer = null;

	/* A red WeUI top tip for a few seconds: how every failed action is reported. */
	function tip(message) {
		var n = $('#ap-tip');
		if (!n) {
			n = el('div', {id: 'ap-tip', class: 'weui-toptips weui-toptips_warn', role: 'alert'});
			document.body.appendChild(n);
		}
		n.textContent = message;
		n.style.display = 'block';
		clearTimeout(tipTimer);
		tipTimer = setTimeout(function () { n.style.display = 'none'; }, 4000);
	}

	function toastNode() {
		var n = $('#ap-toast');
		if (!n) {
			n = el('div', {id: 'ap-toast', role: 'alert', class: 'ap-hidden'}, [
				el('div', {class: 'weui-mask_transparent'}),
				el('div', {class: 'weui-toast__wrp'}, [
					el('div', {class: 'weui-toast'}, [
						el('span', {class: 'ap-toast-icon'}),
						el('p', {class: 'weui-toast__content'})
					])
				])
			]);
			document.body.appendChild(n);
		}
		return n;
	}

	var toastTimer = null;

	/* A success toast that goes away by itself. */
	function toast(message) {
		var n = toastNode();
		var icon = $('.ap-toast-icon', n);
		icon.className = 'ap-toast-icon weui-icon-success-no-circle weui-icon_toast';
		icon.textContent = '';
		setText($('.weui-toast__content', n), message);
		n.className = 'ap-toast-ok';
		n.style.display = '';
		clearTimeout(toastTimer);
		toastTimer = setTimeout(function () { n.className = 'ap-hidden'; }, 1800);
	}

	/* A loading toast over the page; returns {update(text), done()}. */
	function loading(message) {
		var n = toastNode();
		var icon = $('.ap-toast-icon', n);
		clearTimeout(toastTimer);
		icon.className = 'ap-toast-icon weui-primary-loading weui-icon_toast';
		icon.textContent = '';
		icon.appendChild(el('span', {class: 'weui-primary-loading__dot'}));
		setText($('.weui-toast__content', n), message || '加载中');
		n.className = 'ap-toast-loading';
		n.style.display = '';
		return {
			update: function (text) { setText($('.weui-toast__content', n), text); },
			done: function () {
				if (n.className === 'ap-toast-loading') n.className = 'ap-hidden';
			}
		};
	}

	/*
	 * Runs fn while btn shows WeUI's loading state and ignores further taps. Errors from fn
	 * are shown as a tip (their message is the API's) and not thrown on.
	 */
	async function busy(btn, fn) {
		if (btn && btn.getAttribute('aria-busy') === 'true') return undefined;
		var wasDisabled = btn ? btn.disabled : false;
		var spinner = el('i', {class: 'weui-mask-loading'});
		if (btn) {
			btn.setAttribute('aria-busy', 'true');
			btn.disabled = true;
			btn.classList.add('weui-btn_loading');
			btn.insertBefore(spinner, btn.firstChild);
		}
		try {
			return await fn();
		} catch (e) {
			if (!e || !e.silent) tip(errorText(e));
			return undefined;
		} finally {
			if (btn) {
				btn.removeAttribute('aria-busy');
				btn.classList.remove('weui-btn_loading');
				if (spinner.parentNode === btn) btn.removeChild(spinner);
				// an action may have disabled the button on purpose (checked in today)
				if (btn.getAttribute('data-done') !== 'true') btn.disabled = wasDisabled;
			}
		}
	}

	function errorText(e) {
		return (e && e.message) || '出错了，请稍后重试';
	}

	/* ------------------------------------------------------------------ the API */

	function ApiError(status, code, message) {
		var e = new Error(message);
		e.status = status;
		e.code = code;
		return e;
	}

	function getToken() {
		try { return localStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
	}

	function setToken(t) {
		try { localStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode: this visit only */ }
		memoryToken = t;
	}

	function clearToken() {
		try { localStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing stored */ }
		memoryToken = null;
	}

	var memoryToken = null;

	function currentToken() {
		return getToken() || memoryToken;
	}

	/* False for a token that is not a JWT or whose exp has passed (a minute of slack). */
	function tokenFresh(t) {
		var parts = String(t || '').split('.');
		if (parts.length !== 3) return false;
		try {
			var b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
			while (b64.length % 4) b64 += '=';
			var claims = JSON.parse(atob(b64));
			return typeof claims.exp === 'number' && claims.exp * 1000 > Date.now() + 60000;
		} catch (e) {
			return false;
		}
	}

	/*
	 * api('GET', '/user/me') → the envelope's data. A failure throws an Error whose message is
	 * the envelope's message (status and code attached). A 401 on a signed-in call drops the
	 * token and starts sign-in again; the promise then never settles (the page is leaving).
	 */
	async function api(method, path, body, opts) {
		opts = opts || {};
		var headers = {Accept: 'application/json'};
		var token = opts.anonymous ? null : currentToken();
		if (token) headers.Authorization = 'Bearer ' + token;
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
		var res;
		try {
			res = await fetch(API + path, {
				method: method,
				headers: headers,
				body: body === undefined ? undefined : JSON.stringify(body),
				cache: 'no-store',
				credentials: 'same-origin'
			});
		} catch (e) {
			throw ApiError(0, 'NETWORK', '网络连接失败，请检查网络后重试');
		}
		if (res.status === 204) return null;
		var env = null;
		try { env = await res.json(); } catch (e) { env = null; }
		if (res.ok && env && env.success === true) return env.data;
		if (res.status === 401 && token) {
			clearToken();
			restartSignIn();
			return new Promise(function () {});
		}
		var message = env && typeof env.message === 'string' && env.message ?
			env.message : '服务暂时不可用（HTTP ' + res.status + '），请稍后重试';
		throw ApiError(res.status, (env && env.code) || 'HTTP_' + res.status, message);
	}

	/* ------------------------------------------------------------------ sign-in */

	var pageScope = 'snsapi_base';

	function recentTrips() {
		var now = Date.now();
		var list = [];
		try { list = JSON.parse(sessionStorage.getItem(SIGNIN_KEY) || '[]'); } catch (e) { list = []; }
		return (Array.isArray(list) ? list : []).filter(function (t) {
			return typeof t === 'number' && now - t < SIGNIN_WINDOW;
		});
	}

	/* The page's own path and query, without the code and state WeChat added. */
	function ownPath() {
		var q = new URLSearchParams(location.search);
		q.delete('code');
		q.delete('state');
		var s = q.toString();
		return location.pathname + (s ? '?' + s : '');
	}

	/* Off to WeChat's authorization page; it comes back here with ?code=&state=. */
	var leaving = false;

	function restartSignIn(force) {
		if (leaving) return; // several calls may fail with 401 at once: go only once
		var trips = force ? [] : recentTrips();
		if (trips.length >= SIGNIN_MAX) {
			fatal(ApiError(0, 'SIGNIN_LOOP', '登录没有成功，请点击重新登录'), true);
			return;
		}
		leaving = true;
		trips.push(Date.now());
		try { sessionStorage.setItem(SIGNIN_KEY, JSON.stringify(trips)); } catch (e) { /* ignore */ }
		showSigningIn();
		location.replace(API + '/auth/wechat/authorize?redirect=' +
			encodeURIComponent(ownPath()) + '&scope=' + encodeURIComponent(pageScope));
	}

	/*
	 * Signs in when needed. Resolves with the login answer's user after a fresh sign-in, with
	 * null when a stored token is still good; never resolves when the page goes to sign in.
	 */
	async function signIn() {
		var q = new URLSearchParams(location.search);
		var code = q.get('code');
		var state = q.get('state');
		if (code && state) {
			history.replaceState(null, '', ownPath());
			var data = await api('POST', '/auth/wechat/oauth', {code: code, state: state},
				{anonymous: true});
			setToken(data.token);
			try { sessionStorage.removeItem(SIGNIN_KEY); } catch (e) { /* ignore */ }
			return data.user;
		}
		var t = currentToken();
		if (t && tokenFresh(t)) return null;
		clearToken();
		restartSignIn();
		return new Promise(function () {});
	}

	function showSigningIn() {
		var main = $('#app');
		if (!main) return;
		main.textContent = '';
		main.appendChild(el('div', {class: 'weui-loadmore', id: 'ap-signing-in'}, [
			el('span', {class: 'weui-primary-loading'}, [el('i', {class: 'weui-primary-loading__dot'})]),
			el('span', {class: 'weui-loadmore__tips', text: '正在通过微信登录…'})
		]));
	}

	/* The page could not load at all: a WeUI message page with a way out. */
	function fatal(e, signInAgain) {
		var main = $('#app');
		if (!main) { tip(errorText(e)); return; }
		main.textContent = '';
		var again = signInAgain || e.status === 400 || e.status === 401;
		main.appendChild(el('div', {class: 'weui-msg', id: 'ap-fatal'}, [
			el('div', {class: 'weui-msg__icon-area'}, [el('i', {class: 'weui-icon-warn weui-icon_msg'})]),
			el('div', {class: 'weui-msg__text-area'}, [
				el('h2', {class: 'weui-msg__title', text: again ? '登录失败' : '加载失败'}),
				el('p', {class: 'weui-msg__desc', id: 'ap-fatal-message', text: errorText(e)})
			]),
			el('div', {class: 'weui-msg__opr-area'}, [
				el('p', {class: 'weui-btn-area'}, [
					el('button', {
						class: 'weui-btn weui-btn_primary', type: 'button', id: 'ap-retry',
						text: again ? '重新登录' : '重试',
						onclick: function () {
							if (again) { clearToken(); restartSignIn(true); } else location.reload();
						}
					})
				])
			])
		]));
	}

	/*
	 * Page start: sign in (scope snsapi_base or snsapi_userinfo), then load(user) where user is
	 * the login answer's user right after a sign-in and null otherwise.
	 */
	async function start(opts) {
		pageScope = opts.scope || 'snsapi_base';
		var waiting = loading('加载中');
		try {
			var user = await signIn();
			await opts.load(user);
		} catch (e) {
			fatal(e);
		} finally {
			waiting.done();
		}
	}

	/* ------------------------------------------------------------------ WeChat Pay */

	function inWeChat() {
		return /MicroMessenger/i.test(navigator.userAgent) ||
			(typeof window.WeixinJSBridge === 'object' && window.WeixinJSBridge !== null);
	}

	function notInWeChat() {
		var e = ApiError(0, 'NOT_IN_WECHAT', '请在微信中打开本页面完成支付');
		return e;
	}

	/* The bridge, once WeChat has injected it (WeixinJSBridgeReady). */
	function bridgeReady(timeout) {
		return new Promise(function (resolve, reject) {
			var b = window.WeixinJSBridge;
			if (b && typeof b.invoke === 'function') { resolve(b); return; }
			if (!inWeChat()) { reject(notInWeChat()); return; }
			var timer = null;
			function ready() {
				document.removeEventListener('WeixinJSBridgeReady', ready, false);
				clearTimeout(timer);
				if (window.WeixinJSBridge) resolve(window.WeixinJSBridge);
				else reject(ApiError(0, 'NO_BRIDGE', '微信支付暂不可用，请稍后重试'));
			}
			document.addEventListener('WeixinJSBridgeReady', ready, false);
			timer = setTimeout(function () {
				document.removeEventListener('WeixinJSBridgeReady', ready, false);
				reject(ApiError(0, 'NO_BRIDGE', '微信支付暂不可用，请稍后重试'));
			}, timeout);
		});
	}

	/* Polls the order until the server has settled it; resolves with the order. */
	async function waitPaid(no, progress) {
		var until = Date.now() + POLL_FOR;
		var first = true;
		while (Date.now() < until) {
			if (!first) await sleep(POLL_EVERY);
			first = false;
			var o;
			try {
				o = await api('GET', '/payment/orders/' + encodeURIComponent(no));
			} catch (e) {
				if (e.status === 0 || e.status >= 500) { progress('网络不稳定，正在重试…'); continue; }
				throw e;
			}
			if (o.status === 'paid') return o;
			if (o.status === 'closed') throw ApiError(0, 'CLOSED', '订单已关闭，未扣款');
			if (o.status === 'refunded') throw ApiError(0, 'REFUNDED', '订单已退款');
			progress('正在确认支付结果…');
		}
		throw ApiError(0, 'PENDING', '暂未确认到支付结果，到账后可在积分明细中查看');
	}

	/*
	 * Buys pkg: creates the order, opens WeChat's payment sheet with the server's pay_params
	 * and waits for the server to report the order paid; onPaid(order) then refreshes the page.
	 * The sheet's "ok" only means "go and check": the settled order is the proof.
	 */
	function buy(pkg, btn, onPaid) {
		return busy(btn, async function () {
			var bridge = await bridgeReady(BRIDGE_WAIT);
			var order = await api('POST', '/payment/create-order', {package_id: pkg.id},
				{idempotencyKey: randomKey()});
			window.AP.pendingOrder = order;
			var res = await new Promise(function (resolve) {
				bridge.invoke('getBrandWCPayRequest', order.pay_params, function (r) { resolve(r || {}); });
			});
			var msg = String(res.err_msg || '');
			if (/:cancel$/.test(msg)) { tip('已取消支付'); return; }
			if (!/:ok$/.test(msg)) {
				tip('支付未完成：' + (res.err_desc || msg || '未知原因'));
				return;
			}
			var waiting = loading('正在确认支付结果…');
			var paid;
			try {
				paid = await waitPaid(order.out_trade_no, waiting.update);
			} finally {
				waiting.done();
			}
			await onPaid(paid);
			toast('充值成功 +' + paid.credits + ' 积分');
		});
	}

	/* Renders the package list into container; buying calls onPaid(order). */
	function renderPackages(container, packages, onPaid) {
		container.textContent = '';
		if (!packages.length) {
			container.appendChild(el('div', {class: 'weui-cell'}, [
				el('div', {class: 'weui-cell__bd ap-muted', text: '暂无可购买的套餐'})
			]));
			return;
		}
		packages.forEach(function (p) {
			var total = Number(p.credits) + Number(p.bonus_credits);
			var desc = p.credits + ' 积分' + (Number(p.bonus_credits) > 0 ? '，加赠 ' + p.bonus_credits : '');
			var btn = el('button', {
				class: 'weui-btn weui-btn_primary weui-btn_xmini ap-buy', type: 'button',
				'data-package': p.id, text: '购买'
			});
			btn.addEventListener('click', function () { buy(p, btn, onPaid); });
			container.appendChild(el('div', {class: 'weui-cell ap-package', 'data-package': p.id}, [
				el('div', {class: 'weui-cell__bd'}, [
					el('p', {class: 'ap-package-name', text: p.name + ' · ' + total + ' 积分'}),
					el('p', {class: 'ap-muted', text: desc})
				]),
				el('div', {class: 'weui-cell__ft ap-package-ft'}, [
					el('span', {class: 'ap-price', text: yuan(p.price_fen)}),
					btn
				])
			]));
		});
	}

	/* ------------------------------------------------------------------ development */

	var DEVPAY_KEY = 'aiphoto.devpay';

	/* A page served from this machine: only a local development stack is. */
	function devHost() {
		return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(location.hostname);
	}

	/* dev-bridge.js: the simulator's payment sheet in an ordinary browser (loopback only). */
	function loadDevBridge() {
		return new Promise(function (resolve, reject) {
			if (window.WeixinJSBridge) { resolve(); return; }
			var s = el('script', {src: 'dev-bridge.js'});
			s.addEventListener('load', function () { resolve(); });
			s.addEventListener('error', function () { reject(ApiError(0, 'DEV', '无法加载模拟支付脚本')); });
			document.head.appendChild(s);
		});
	}

	/*
	 * The notice shown above the packages outside WeChat. On a development stack it also
	 * offers the simulator's payment sheet (remembered for this tab).
	 */
	async function payNotice(node) {
		if (!node) return;
		if (!inWeChat() && devHost() && sessionStorage.getItem(DEVPAY_KEY) === '1') {
			try { await loadDevBridge(); } catch (e) { tip(errorText(e)); }
		}
		node.classList.toggle('ap-hidden', inWeChat());
		if (inWeChat() || !devHost() || $('.ap-devpay-link', node)) return;
		node.appendChild(el('a', {
			href: 'javascript:', role: 'button', class: 'ap-devpay-link',
			text: '开发环境：改用本机的微信支付模拟器',
			onclick: function () {
				try { sessionStorage.setItem(DEVPAY_KEY, '1'); } catch (e) { /* this page only */ }
				loadDevBridge().then(function () { node.classList.add('ap-hidden'); },
					function (e) { tip(errorText(e)); });
			}
		}));
	}

	/* ------------------------------------------------------------------ photos */

	var MAX_SIDE = 3072; // a larger photo is scaled down in the page before it is sent
	var MAX_SEND = 4 * 1024 * 1024; // and so is a larger file, whatever its size in pixels

	/* The image's pixels, or null when the browser cannot decode it (not an image). */
	function decode(blob) {
		return new Promise(function (resolve) {
			var url = URL.createObjectURL(blob);
			var img = new Image();
			img.onload = function () { resolve(img); };
			img.onerror = function () { URL.revokeObjectURL(url); resolve(null); };
			img.src = url;
		});
	}

	/*
	 * A very large photo (more than MAX_SIDE pixels on a side, or more than MAX_SEND bytes)
	 * redrawn as a JPEG of at most MAX_SIDE on its long side; anything else, and anything the
	 * browser cannot decode (the server then says why it refuses it), unchanged.
	 */
	async function downscale(file) {
		if (!/^image\//.test(file.type || '')) return file;
		var img = await decode(file);
		if (!img) return file;
		URL.revokeObjectURL(img.src);
		var w = img.naturalWidth, h = img.naturalHeight;
		if (Math.max(w, h) <= MAX_SIDE && file.size <= MAX_SEND) return file;
		var k = Math.min(1, MAX_SIDE / Math.max(w, h));
		var canvas = el('canvas');
		canvas.width = Math.max(1, Math.round(w * k));
		canvas.height = Math.max(1, Math.round(h * k));
		canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
		var out = await new Promise(function (r) { canvas.toBlob(r, 'image/jpeg', 0.88); });
		return out || file;
	}

	/*
	 * POST /uploads with the photo as multipart field "file" → the Asset. XHR rather than
	 * fetch, for the upload progress: progress(fraction 0…1). Errors carry the API's message.
	 */
	function upload(blob, name, progress) {
		return new Promise(function (resolve, reject) {
			var xhr = new XMLHttpRequest();
			var form = new FormData();
			form.append('file', blob, name || 'photo.jpg');
			xhr.open('POST', API + '/uploads');
			var token = currentToken();
			if (token) xhr.setRequestHeader('Authorization', 'Bearer ' + token);
			xhr.setRequestHeader('Accept', 'application/json');
			if (xhr.upload && progress) {
				xhr.upload.onprogress = function (ev) {
					if (ev.lengthComputable) progress(ev.loaded / ev.total);
				};
			}
			xhr.onerror = function () {
				reject(ApiError(0, 'NETWORK', '网络连接失败，请检查网络后重试'));
			};
			xhr.onload = function () {
				var env = null;
				try { env = JSON.parse(xhr.responseText); } catch (e) { env = null; }
				if (xhr.status >= 200 && xhr.status < 300 && env && env.success) {
					resolve(env.data);
					return;
				}
				if (xhr.status === 401 && token) {
					clearToken();
					restartSignIn();
					return;
				}
				var message = env && env.message ? env.message :
					xhr.status === 413 ? '图片太大，请选择 10 MB 以内的照片' :
						'上传失败（HTTP ' + xhr.status + '），请稍后重试';
				reject(ApiError(xhr.status, (env && env.code) || 'HTTP_' + xhr.status, message));
			};
			xhr.send(form);
		});
	}

	/* ------------------------------------------------------------------ WeChat JS-SDK */

	var wxPromise = null;
	var wxConfigured = null; // window.wx once wxReady() resolved with it

	/*
	 * WeChat's JS-SDK file, vendored (vendor/jweixin/, from this server, never another site);
	 * resolves with window.wx, or null when it cannot be loaded. Only ever called inside WeChat:
	 * an ordinary browser never requests the file.
	 */
	function loadWx() {
		return new Promise(function (resolve) {
			if (window.wx) { resolve(window.wx); return; }
			var s = el('script', {src: 'vendor/jweixin/jweixin.js'});
			s.addEventListener('load', function () { resolve(window.wx || null); });
			s.addEventListener('error', function () { resolve(null); });
			document.head.appendChild(s);
		});
	}

	/*
	 * The JS-SDK (`wx`) configured for this page through /auth/wechat/jssdk, or null: outside
	 * WeChat (the SDK is then not even loaded), when the SDK cannot be loaded, or when the
	 * signature or wx.config fails. The pages then fall back to a file input and <img>.
	 * The studio, task and works pages start it as they load; once it has settled, <html>
	 * carries data-wx="ready" or data-wx="off".
	 */
	function wxReady() {
		if (wxPromise) return wxPromise;
		wxPromise = wxSetUp().then(function (wx) {
			wxConfigured = wx;
			document.documentElement.setAttribute('data-wx', wx ? 'ready' : 'off');
			return wx;
		});
		return wxPromise;
	}

	/*
	 * The configured JS-SDK now, or null while wxReady() has not settled or failed. A tap uses
	 * this rather than waiting: a file input opens only within a tap's user activation, so the
	 * fallback must not wait for the SDK.
	 */
	function wxNow() {
		return wxConfigured;
	}

	/*
	 * The address wx.config's signature must be made for: WeChat on iOS checks it against the
	 * address the page was first opened at (here, after the sign-in, still with code and state),
	 * whatever history.replaceState did since; WeChat elsewhere against the current one.
	 */
	function wxSignedUrl() {
		return /iPhone|iPad|iPod/i.test(navigator.userAgent) ? LANDING_URL : location.href.split('#')[0];
	}

	function wxSetUp() {
		return (async function () {
			if (!inWeChat()) return null;
			var wx = await loadWx();
			if (!wx || typeof wx.config !== 'function') return null;
			var url = wxSignedUrl();
			var sig;
			try {
				sig = await api('GET', '/auth/wechat/jssdk?url=' + encodeURIComponent(url), undefined,
					{anonymous: true});
			} catch (e) {
				return null;
			}
			return new Promise(function (resolve) {
				var timer = setTimeout(function () { resolve(null); }, 5000);
				wx.config({
					debug: false,
					appId: sig.appId,
					timestamp: sig.timestamp,
					nonceStr: sig.nonceStr,
					signature: sig.signature,
					jsApiList: ['chooseImage', 'getLocalImgData', 'previewImage']
				});
				wx.ready(function () { clearTimeout(timer); resolve(wx); });
				wx.error(function () { clearTimeout(timer); resolve(null); });
			});
		})();
	}

	/* wx.getLocalImgData's base64 (with or without a data: prefix) as a Blob. */
	function base64Blob(data) {
		var m = /^data:([^;]+);base64,/.exec(data);
		var bin = atob(m ? data.slice(m[0].length) : data);
		var bytes = new Uint8Array(bin.length);
		for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
		return new Blob([bytes], {type: m ? m[1] : 'image/jpeg'});
	}

	/* Photos chosen with wx.chooseImage (camera or album), as Blobs; [] when cancelled. */
	function wxChoose(wx, count) {
		return new Promise(function (resolve, reject) {
			wx.chooseImage({
				count: count,
				sizeType: ['original', 'compressed'],
				sourceType: ['album', 'camera'],
				success: function (res) {
					var ids = res.localIds || [];
					Promise.all(ids.map(function (id) {
						return new Promise(function (ok, fail) {
							wx.getLocalImgData({
								localId: id,
								success: function (r) { ok(base64Blob(r.localData || '')); },
								fail: function () { fail(ApiError(0, 'WX', '读取照片失败，请重试')); }
							});
						});
					})).then(resolve, reject);
				},
				cancel: function () { resolve([]); },
				fail: function () { reject(ApiError(0, 'WX', '无法打开相册，请重试')); }
			});
		});
	}

	/* The full image with WeChat's previewImage when the JS-SDK is configured; false when not. */
	function preview(url, urls) {
		var abs = function (u) { return new URL(u, location.href).href; };
		var wx = wxNow();
		if (wx) {
			wx.previewImage({current: abs(url), urls: (urls || [url]).map(abs)});
			return true;
		}
		return false;
	}

	/* A WeUI confirmation dialog; resolves true when the user confirms. */
	function confirmDialog(title, text, okText) {
		return new Promise(function (resolve) {
			var node;
			function close(v) { node.remove(); resolve(v); }
			node = el('div', {id: 'ap-confirm', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'ap-confirm-title'}, [
				el('div', {class: 'weui-mask'}),
				el('div', {class: 'weui-dialog'}, [
					el('div', {class: 'weui-dialog__hd'}, [
						el('strong', {class: 'weui-dialog__title', id: 'ap-confirm-title', text: title})
					]),
					el('div', {class: 'weui-dialog__bd', text: text}),
					el('div', {class: 'weui-dialog__ft'}, [
						el('a', {href: 'javascript:', role: 'button', id: 'ap-confirm-cancel',
							class: 'weui-dialog__btn weui-dialog__btn_default', text: '取消',
							onclick: function () { close(false); }}),
						el('a', {href: 'javascript:', role: 'button', id: 'ap-confirm-ok',
							class: 'weui-dialog__btn weui-dialog__btn_primary', text: okText || '确定',
							onclick: function () { close(true); }})
					])
				])
			]);
			document.body.appendChild(node);
			$('#ap-confirm-ok').focus();
		});
	}

	/*
	 * The full image of a work: WeChat's previewImage (which saves on a long press) when the
	 * JS-SDK is there, else an overlay with the image; inside WeChat it says how to save.
	 */
	async function showImage(url, urls) {
		if (preview(url, urls)) return;
		var node = el('div', {class: 'ap-viewer', id: 'ap-viewer', role: 'dialog', 'aria-modal': 'true',
			'aria-label': '查看大图'}, [
			el('img', {src: url, alt: '作品大图'}),
			inWeChat() ? el('p', {text: '长按图片可保存到手机'}) : null,
			el('button', {type: 'button', class: 'weui-btn weui-btn_default weui-btn_mini', id: 'ap-viewer-close',
				text: '关闭', onclick: function () { node.remove(); }})
		]);
		document.body.appendChild(node);
		$('#ap-viewer-close').focus();
	}

	/* ------------------------------------------------------------------ navigation */

	var TABS = [
		['member.html', '我的'], ['studio.html', '创作'], ['task.html', '任务'],
		['works.html', '作品'], ['credits.html', '积分']
	];

	/* Fills the page's <nav class="ap-tabbar" data-current="…"> with the pages' links. */
	function tabbar() {
		var nav = $('.ap-tabbar');
		if (!nav || nav.children.length) return;
		var current = nav.getAttribute('data-current');
		TABS.forEach(function (t) {
			nav.appendChild(el('a', {href: t[0], text: t[1], 'aria-current': t[0] === current ? 'page' : null}));
		});
	}

	/*
	 * A WeUI navbar's tabs (.weui-navbar__item with data-<attr>): marks the chosen one and
	 * calls onSelect(value) on a tap or Enter on another; errors become a tip.
	 */
	function navbarTabs(attr, onSelect) {
		var items = document.querySelectorAll('.weui-navbar__item');
		items.forEach(function (t) {
			function go() {
				if (t.classList.contains('weui-bar__item_on')) return;
				Promise.resolve(onSelect(t.getAttribute('data-' + attr))).catch(function (e) { tip(errorText(e)); });
			}
			t.addEventListener('click', go);
			t.addEventListener('keydown', function (ev) { if (ev.key === 'Enter') go(); });
		});
		return function mark(value) {
			items.forEach(function (t) {
				var on = t.getAttribute('data-' + attr) === value;
				t.classList.toggle('weui-bar__item_on', on);
				t.setAttribute('aria-selected', on ? 'true' : 'false');
			});
		};
	}

	async function copyText(text) {
		if (navigator.clipboard && window.isSecureContext) {
			try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back */ }
		}
		var area = el('textarea', {readonly: true, class: 'ap-offscreen'});
		area.value = text;
		document.body.appendChild(area);
		area.select();
		var ok = false;
		try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
		document.body.removeChild(area);
		return ok;
	}

	window.AP = {
		$: $,
		el: el,
		setText: setText,
		yuan: yuan,
		when: when,
		kindName: function (k) { return KIND_NAMES[k] || k; },
		tip: tip,
		toast: toast,
		loading: loading,
		busy: busy,
		api: api,
		start: start,
		inWeChat: inWeChat,
		buy: buy,
		renderPackages: renderPackages,
		payNotice: payNotice,
		copyText: copyText,
		errorText: errorText,
		randomKey: randomKey,
		sleep: sleep,
		downscale: downscale,
		upload: upload,
		wxReady: wxReady,
		wxNow: wxNow,
		wxChoose: wxChoose,
		preview: preview,
		devHost: devHost,
		confirm: confirmDialog,
		showImage: showImage,
		navbarTabs: navbarTabs
	};
	tabbar();
})();
