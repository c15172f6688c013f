'use strict';
/*
 * What the browser test files share: the stack's addresses from the environment that
 * tests/browser/run sets, Chromium's launch, API and simulator calls, phone-sized contexts
 * that refuse every request to a host other than the loopback addresses and sign in as a
 * chosen simulated WeChat user, and screenshots.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
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
	const res = await ctx.fetch(url, {method, headers: h, data: json, multipart, maxRedirects: 0,
		failOnStatusCode: false});
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

/*
 * A fresh browser context: phone-sized, WeChat's user agent unless plain, every non-loopback
 * request refused and recorded in blocked, and the simulator's authorize page told which
 * openid signs in (the way a phone is always the same WeChat user): who = {openid, nickname}.
 * userAgent replaces the user agent (another phone).
 */
async function newContext(browser, {who, blocked, wechat = true, viewport = {width: 360, height: 640}, userAgent}) {
	const ctx = await browser.newContext({
		viewport,
		deviceScaleFactor: 1,
		isMobile: true,
		hasTouch: true,
		locale: 'zh-CN',
		userAgent: userAgent || (wechat ? WECHAT_UA : PLAIN_UA)
	});
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

function pngSize(file) {
	const b = fs.readFileSync(file);
	assert.equal(b.toString('latin1', 1, 4), 'PNG', `${file} is not a PNG`);
	return {width: b.readUInt32BE(16), height: b.readUInt32BE(20)};
}

module.exports = {
	REPO, BASE, SIM, ARTIFACTS, LOOPBACK, WAIT,
	launch, call, apiOk, newContext, navigations, open, shot, pngSize
};
