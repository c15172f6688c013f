// adapter_journey.js — a mini-program user's whole journey through the operator's own
// api-adapter.js (seed 000), run under Node against a running stack.
//
//   node adapter_journey.js ADAPTER_JS BASE_URL MP_CODE
//
// ADAPTER_JS is the seed's adapter as extracted by test_cloud_adapter.py (only its base URL
// changed).  `wx` is a small shim: wx.request returns a promise of {data, statusCode, header}
// (the promise wrapper docs/migration.md asks the mini program to add), storage is a Map, and
// the cloud database's system_config/backend_config document is read from the server's
// GET /api/v1/config/backend.  Each step prints one JSON line {"step", "res"}; where the test
// must act (pay an order at the simulator, run the dispatcher) the driver prints
// {"ask": …} and waits for one line on stdin.

'use strict';

const fs = require('fs');
const readline = require('readline');

const [adapterPath, base, mpCode] = process.argv.slice(2);
const storage = new Map();
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function ask(what) {
  out({ ask: what });
  const { value, done } = await lines.next();
  if (done) throw new Error('the test stopped answering');
  return value;
}

global.wx = {
  getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
  setStorageSync: (k, v) => storage.set(k, v),
  async request({ url, method = 'GET', header = {}, data }) {
    const resp = await fetch(url, {
      method,
      headers: header,
      body: method === 'GET' ? undefined : JSON.stringify(data),
    });
    const text = await resp.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new Error(`${method} ${url}: ${resp.status} not JSON: ${text.slice(0, 200)}`);
    }
    return { data: body, statusCode: resp.status, header: Object.fromEntries(resp.headers) };
  },
  cloud: {
    database: () => ({
      collection: (name) => ({
        doc: (id) => ({
          async get() {
            if (name !== 'system_config' || id !== 'backend_config') throw new Error('no such doc');
            const resp = await fetch(`${base}/api/v1/config/backend`);
            const body = await resp.json();
            if (!body.success) throw new Error(JSON.stringify(body));
            return { data: body.data };
          },
        }),
      }),
    }),
    async callFunction({ name }) {
      throw new Error(`cloud function ${name} called: the journey must stay on the server`);
    },
  },
};

async function main() {
  const adapter = require(adapterPath);
  // loadConfig() runs unawaited in the constructor: wait for its decision
  for (let i = 0; i < 100 && adapter.backendType !== 'server'; i++)
    await new Promise((r) => setTimeout(r, 50));
  out({ step: 'config', res: { backendType: adapter.backendType, url: adapter.serverBaseUrl } });
  if (adapter.backendType !== 'server') throw new Error('the adapter did not choose the server');

  const call = async (step, fn, data) => {
    const res = await adapter.callFunction(fn, data);
    out({ step, res });
    if (!res || res.success !== true) throw new Error(`${step}: ${JSON.stringify(res)}`);
    return res.data;
  };

  const me = await call('register', 'user', {
    action: 'register', code: mpCode, userInfo: { nickName: '旅程用户', avatarUrl: 'https://example.com/j.png' },
  });
  wx.setStorageSync('server_token', me.token);
  await call('getUserInfo', 'user', { action: 'getUserInfo' });
  await call('updateUserInfo', 'user', { action: 'updateUserInfo', nickName: '改名了' });
  const packages = await call('getPackages', 'payment', { action: 'getPackages' });
  await call('dailyCheckin', 'payment', { action: 'dailyCheckin' });
  const order = await call('createOrder', 'payment', { action: 'createOrder', packageId: packages[0]._id });
  await ask({ pay: order.out_trade_no });
  await call('listRechargeRecords', 'payment', { action: 'listRechargeRecords', pageSize: 10 });

  // the upload itself is wx.uploadFile to the server's /uploads (the cloud used wx.cloud.uploadFile)
  const png = fs.readFileSync(process.env.JOURNEY_PNG);
  const up = await fetch(`${base}/api/v1/uploads`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${me.token}`, 'Content-Type': 'image/png' },
    body: png,
  });
  const asset = (await up.json()).data;
  out({ step: 'upload', res: asset });
  // a file the mini program had put in cloud storage: registered, then used by its cloud:// id
  const fileID = process.env.JOURNEY_CLOUD_FILE;
  await call('resolveBefore', 'storage', { action: 'resolveAsset', fileID });
  await call('registerAsset', 'storage', { action: 'registerAsset', fileID });
  await call('resolveAfter', 'storage', { action: 'resolveAsset', fileID });

  const scenes = await call('getScenes', 'scene', { action: 'getScenes' });
  await call('generatePrompt', 'prompt', { action: 'generatePrompt', type: 'photography', sceneId: scenes[0]._id, params: {} });
  const task = await call('generatePhotography', 'photography', {
    action: 'generate', sceneId: scenes[0]._id, images: [asset.asset_id], count: 2, params: {},
  });
  const fit = await call('generateFitting', 'fitting', {
    action: 'generate', personImage: asset.asset_id, garmentImage: fileID, count: 1,
  });
  let progress;
  for (let i = 0; i < 30; i++) {
    await ask({ dispatch: true });
    progress = await call('getProgress', 'photography', { action: 'getProgress', taskId: task._id });
    if (progress.status !== 'queued' && progress.status !== 'running') break;
  }
  if (progress.status !== 'completed') throw new Error(`task ended ${progress.status}`);
  await call('getFittingProgress', 'fitting', { action: 'getProgress', taskId: fit._id });

  const works = await call('getWorkList', 'api', { action: 'getWorkList', tab: 'all', pageSize: 2 });
  await call('listWorks', 'api', { action: 'listWorks', tab: 'all', pageSize: 2, last_id: works[works.length - 1]._id });
  await call('getWorkDetail', 'api', { action: 'getWorkDetail', workId: works[0]._id });
  await call('toggleFavorite', 'api', { action: 'toggleFavorite', workId: works[0]._id });
  await call('listFavorites', 'api', { action: 'listWorks', tab: 'favorite' });
  await call('deleteWork', 'api', { action: 'deleteWork', workId: works[1]._id });
  const later = await call('generateToCancel', 'photography', {
    action: 'generate', sceneId: scenes[0]._id, images: [asset.asset_id], count: 3,
  });
  await call('cancelTask', 'api', { action: 'cancelTask', taskId: later._id });
  await call('listConsumeRecords', 'payment', { action: 'listConsumeRecords', pageSize: 20 });
  await call('getUserInfoAtEnd', 'user', { action: 'getUserInfo' });
  out({ done: true });
}

main().then(
  () => process.exit(0),
  (e) => {
    out({ error: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
