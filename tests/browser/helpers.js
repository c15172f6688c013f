'use strict';
/*
 * What the browser test files share: the stack's addresses from the environment that
 * tests/browser/run sets, Chromium's launch, API and simulator calls, phone-sized contexts
 * that refuse every request to a host other than the loopback addresses and sign in as a
 * chosen simulated WeChat user, and screenshots.
 */
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const {chromium} = require('playwright-core');

const REPO = path.resolve(__dirname, '..', '..');
const BASE = (process.env.AIPHOTO_BASE_URL || '').replace(/\/+$/, '');
const SIM = (process.env.AIPHOTO_SIM_URL || '').replace(/\/+$/, '');
const ARTIFACTS = process.env.AIPHOTO_ARTIFACTS || path.join(REPO, 'build', 'artifacts', 'browser');
const CHROMIUM = process.env.AIPHOTO_CHROMIUM || '/usr/bin/chromium';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const WECHAT_UA = 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) ' +
	'Chrome/120.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 ' +
	'Weixin NetType/WIFI Language/zh_CN ABI/arm64';
const PLAIN_UA = 'Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) ' +
	'Chrome/120.0.0.0 Mobile Safari/537.36';
const WAIT = 15000;

for (const [name, value] of [['AIPHOTO_BASE_URL', BASE], ['AIPHOTO_SIM_URL', SIM]]) {
	if (!value) throw new Error(`${name} is not set: run the tests through tests/browser/run`);
	if (!LOOPBACK.has(new URL(value).hostname)) throw new Error(`${name} must be a loopback URL`);
}

function launch() {
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--no-first-run']
	});
}

/* One HTTP call through a Playwright request context → {status, headers, body (JSON or text)}. */
async function call(ctx, method, url, {token, json, headers, multipart} = {}) {
	const h = Object.assign({}, headers || {});
	if (token) h.Authorization = `Bearer ${token}`;
	const opts = {method, headers: h, data: json, multipart, maxRedirects: 0, failOnStatusCode: false};
	let res;
	try {
		res = await ctx.fetch(url, opts);
	} catch (e) {
		// A connection the server closed as the request went out (an idle keep-alive one on a
		// loaded machine) is retried once, as a browser does, but only for a request that is
		// safe to repeat: a GET, or one carrying an Idempotency-Key.
		const repeatable = method === 'GET' || Object.keys(h).some((k) => k.toLowerCase() === 'idempotency-key');
		if (!repeatable || !/socket hang up|ECONNRESET/.test(String(e && e.message))) throw e;
		res = await ctx.fetch(url, opts);
	}
	const text = await res.text();
	let body = null;
	try { body = JSON.parse(text); } catch (e) { body = text; }
	return {status: res.status(), headers: res.headers(), body};
}

/* The envelope's data of a call to the product's API that must succeed. */
async function apiOk(api, method, p, opts) {
	const r = await call(api, method, `/api/v1${p}`, opts);
	assert.ok(r.status >= 200 && r.status < 300 && r.body && r.body.success,
		`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
	return r.body.data;
}

/* A user signed in through the OAuth API calls, no browser (api, sim: request contexts): {token, user}. */
async function apiSignIn(api, sim, openid) {
	const auth = await call(api, 'GET', '/api/v1/auth/wechat/authorize?redirect=%2Fwechat%2Fmember.html&scope=snsapi_base');
	assert.equal(auth.status, 302, JSON.stringify(auth.body));
	const state = new URL(auth.headers.location.replace('#wechat_redirect', '')).searchParams.get('state');
	const code = await call(sim, 'POST', '/__sim/oauth/code', {json: {openid, scope: 'snsapi_base'}});
	assert.equal(code.status, 200, JSON.stringify(code.body));
	return apiOk(api, 'POST', '/auth/wechat/oauth', {json: {code: code.body.code, state}});
}

/*
 * Credits bought the way a user buys them: an order (Idempotency-Key keyPrefix + random), paid
 * in the Pay simulator, settled; answers the order once paid (GET /payment/orders/:no).
 */
async function buyCredits(api, sim, token, packageId, keyPrefix) {
	const order = await apiOk(api, 'POST', '/payment/create-order', {token, json: {package_id: packageId},
		headers: {'Idempotency-Key': keyPrefix + crypto.randomBytes(8).toString('hex')}});
	const paid = await call(sim, 'POST', '/__sim/pay/pay', {json: {out_trade_no: order.out_trade_no}});
	assert.equal(paid.status, 200, JSON.stringify(paid.body));
	for (let i = 0; i < 60; i++) {
		const o = await apiOk(api, 'GET', `/payment/orders/${order.out_trade_no}`, {token});
		if (o.status === 'paid') return o;
		await new Promise((r) => setTimeout(r, 250));
	}
	throw new Error(`order ${order.out_trade_no} was not paid`);
}

/*
 * A fresh browser context: phone-sized, WeChat's user agent unless plain (mobile false: a
 * laptop's browser with its own user agent, for the operators' console), every non-loopback
 * request refused and recorded in blocked, and the simulator's authorize page told which
 * openid signs in (the way a phone is always the same WeChat user): who = {openid, nickname}.
 * userAgent replaces the user agent (another phone).
 */
async function newContext(browser, {who, blocked, wechat = true, mobile = true, viewport = {width: 360, height: 640}, userAgent}) {
	const ctx = await browser.newContext(Object.assign({
		viewport,
		deviceScaleFactor: 1,
		isMobile: mobile,
		hasTouch: mobile,
		locale: 'zh-CN'
	}, mobile ? {userAgent: userAgent || (wechat ? WECHAT_UA : PLAIN_UA)} : {}));
	ctx.setDefaultTimeout(WAIT);
	await ctx.route('**/*', async (route) => {
		const url = new URL(route.request().url());
		if (!LOOPBACK.has(url.hostname)) {
			blocked.push(url.href);
			return route.abort('blockedbyclient');
		}
		if (url.href.startsWith(`${BASE}/api/v1/auth/wechat/authorize?`)) {
			// the product's redirect to WeChat, passed on with the simulator's extra
			// parameters added (redirected requests themselves are not routed)
			const res = await route.fetch({maxRedirects: 0});
			const headers = res.headers();
			if (res.status() === 302 && headers.location) {
				const to = new URL(headers.location);
				to.searchParams.set('sim_openid', who.openid);
				to.searchParams.set('sim_nickname', who.nickname);
				headers.location = to.href;
			}
			return route.fulfill({response: res, headers});
		}
		return route.continue();
	});
	return ctx;
}

/* Main-frame navigations of a page, for following the sign-in round trip. */
function navigations(page) {
	const seen = [];
	page.on('request', (r) => {
		if (r.isNavigationRequest() && r.frame() === page.mainFrame()) seen.push(r.url());
	});
	return seen;
}

async function open(ctx, file) {
	const page = await ctx.newPage();
	const navs = navigations(page);
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	await page.goto(`${BASE}/wechat/${file}`);
	return {page, navs, errors};
}

/* The page as a person first sees it: from the top, without a passing toast or tip. */
async function shot(page, name, {keepTip = false} = {}) {
	fs.mkdirSync(ARTIFACTS, {recursive: true});
	await page.evaluate((keep) => {
		for (const n of document.querySelectorAll(keep ? '#ap-toast' : '#ap-toast, #ap-tip')) n.style.display = 'none';
		window.scrollTo(0, 0);
	}, keepTip);
	await page.waitForTimeout(200);
	await page.screenshot({path: path.join(ARTIFACTS, name)});
}

/* A PNG of w×h in one colour, made here (zlib), so that no image file is needed. */
function png(w, h, rgb) {
	const row = Buffer.alloc(1 + w * 3);
	for (let x = 0; x < w; x++) row.set(rgb, 1 + x * 3);
	const raw = Buffer.concat(Array.from({length: h}, () => row));
	const crcTable = Array.from({length: 256}, (_, n) => {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		return c >>> 0;
	});
	const crc = (b) => {
		let c = 0xffffffff;
		for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
		return (c ^ 0xffffffff) >>> 0;
	};
	const chunk = (type, data) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
		const c = Buffer.alloc(4);
		c.writeUInt32BE(crc(td));
		return Buffer.concat([len, td, c]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr.set([8, 2, 0, 0, 0], 8);
	return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function pngSize(file) {
	const b = fs.readFileSync(file);
	assert.equal(b.toString('latin1', 1, 4), 'PNG', `${file} is not a PNG`);
	return {width: b.readUInt32BE(16), height: b.readUInt32BE(20)};
}

module.exports = {
	REPO, BASE, SIM, ARTIFACTS, LOOPBACK, WAIT,
	launch, call, apiOk, apiSignIn, buyCredits, newContext, navigations, open, shot, png, pngSize
};
