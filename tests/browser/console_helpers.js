'use strict';
/*
 * What the console's browser test files share (console.test.js, console_refund.test.js): the
 * demo admins' password, admin tokens from the API, a laptop-sized context on /admin/, the
 * login form, screenshots named console-<page>.png and one run of the real dispatcher.
 */
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {execFile} = require('node:child_process');
const H = require('./helpers');

const SIZE = {width: 1280, height: 800};
const BUILD = path.join(H.REPO, process.env.AIPHOTO_BUILD || 'build');

/* ADMIN_DEMO_PASSWORD of scripts/dev-credentials.env: the stack's demo admins sign in with it. */
function adminPassword() {
	const text = fs.readFileSync(path.join(H.REPO, 'scripts', 'dev-credentials.env'), 'utf8');
	const m = /^ADMIN_DEMO_PASSWORD=(.*)$/m.exec(text);
	assert.ok(m, 'ADMIN_DEMO_PASSWORD is in scripts/dev-credentials.env');
	return m[1].trim();
}

/* An admin token of a demo admin, from POST /admin/login. */
async function adminToken(api, username) {
	return (await H.apiOk(api, 'POST', '/admin/login', {json: {username, password: adminPassword()}})).token;
}

/* A 1280×800 desktop context on /admin/<hash>: {page, errors (uncaught page errors)}. */
async function openConsole(browser, blocked, hash) {
	const ctx = await H.newContext(browser, {who: {openid: 'unused', nickname: 'unused'}, blocked,
		wechat: false, mobile: false, viewport: SIZE});
	const page = await ctx.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(String(e)));
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) errors.push(m.text());
	});
	await page.goto(`${H.BASE}/admin/${hash}`);
	return {page, errors};
}

/* Signs in through the login form as a demo admin and waits for the console's header. */
async function login(page, username) {
	await page.locator('#login-username').fill(username);
	await page.locator('#login-password').fill(adminPassword());
	await page.locator('#login-submit').click();
	await page.locator('#top').waitFor({state: 'visible'});
	await page.waitForFunction(() => !document.querySelector('#main[aria-busy]'));
}

/* A 1280×800 screenshot as console-<name>.png, without the result line. */
async function shot(page, name) {
	await page.waitForFunction(() => !document.querySelector('#main[aria-busy]'));
	await page.evaluate(() => document.querySelector('#msg').classList.add('hidden'));
	await H.shot(page, `console-${name}.png`);
}

/* scripts/stack CMD (pg-stop, pg-start) on the stack of the tests (AIPHOTO_VAR, PORT). */
function stack(cmd) {
	return new Promise((resolve, reject) => {
		execFile(path.join(H.REPO, 'scripts', 'stack'), [cmd], {cwd: H.REPO, timeout: 60000},
			(err, stdout, stderr) => (err ? reject(new Error(`scripts/stack ${cmd}: ${err.message}\n${stderr}`)) : resolve(stdout)));
	});
}

/* One run of the real dispatcher until nothing is due. */
function dispatch() {
	return new Promise((resolve, reject) => {
		execFile(path.join(BUILD, 'aiphoto-dispatch'), ['--until-idle'], {cwd: H.REPO, timeout: 120000,
			env: Object.assign({}, process.env, {DISPATCH_RETRY_BASE_MS: '100', DISPATCH_BUDGET_SECONDS: '30'})},
		(err, stdout, stderr) => (err ? reject(new Error(`aiphoto-dispatch: ${err.message}\n${stderr}`)) : resolve(stdout)));
	});
}

module.exports = {SIZE, adminPassword, adminToken, openConsole, login, shot, stack, dispatch};
