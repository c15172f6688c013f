/*
 * studio.js — studio.html: choose the kind (portraits or try-on), upload photos, pick a scene,
 * choose how many images, see the price beside the balance, and generate.
 *
 * The choices live in sessionStorage (aiphoto.studio) so that a trip to buy credits comes back
 * to the same photos, scene and count. Generating sends an Idempotency-Key that stays the same
 * while the request stays the same: a second tap, or a retry after a lost answer, is answered
 * with the first task and charged once.
 */
(function () {
	'use strict';
	var $ = AP.$;
	var el = AP.el;
	var SAVE_KEY = 'aiphoto.studio';
	var MAX_PHOTOS = 10;

	var state = {
		kind: 'photography',
		photos: [], // {key, url, asset, progress, failed}
		person: null,
		garment: null,
		scene: null,
		category: null,
		count: 5,
		idemKey: null,
		idemFor: null
	};
	var scenes = [];
	var pricing = null;
	var credits = null;
	var nextKey = 1;

	function save() {
		var keep = function (p) { return p && p.asset ? {asset: p.asset} : null; };
		try {
			sessionStorage.setItem(SAVE_KEY, JSON.stringify({
				kind: state.kind,
				photos: state.photos.map(keep).filter(Boolean),
				person: keep(state.person),
				garment: keep(state.garment),
				scene: state.scene,
				count: state.count
			}));
		} catch (e) { /* private mode: nothing kept */ }
	}

	function restore() {
		var s = null;
		try { s = JSON.parse(sessionStorage.getItem(SAVE_KEY) || 'null'); } catch (e) { s = null; }
		var kind = new URLSearchParams(location.search).get('kind');
		if (s && typeof s === 'object') {
			var item = function (p) {
				return p && p.asset ? {key: nextKey++, url: p.asset.url, asset: p.asset, progress: 1} : null;
			};
			state.kind = s.kind === 'fitting' ? 'fitting' : 'photography';
			state.photos = (Array.isArray(s.photos) ? s.photos : []).map(item).filter(Boolean);
			state.person = item(s.person);
			state.garment = item(s.garment);
			state.scene = typeof s.scene === 'number' ? s.scene : null;
			state.count = clampCount(s.count);
		}
		if (kind === 'fitting' || kind === 'photography') state.kind = kind;
	}

	function clampCount(n) {
		n = Math.round(Number(n));
		if (!isFinite(n) || n < 1) return 1;
		return n > 50 ? 50 : n;
	}

	/* ------------------------------------------------------------ choosing photos */

	var input = el('input', {type: 'file', accept: 'image/*', class: 'ap-file', id: 'photo-input',
		'aria-label': '选择照片', tabindex: '-1'});
	document.body.appendChild(input);
	var inputTarget = null; // 'photos', 'person' or 'garment'

	/* Camera or album: wx.chooseImage inside WeChat, the file input elsewhere. */
	async function choose(target) {
		var room = target === 'photos' ? MAX_PHOTOS - state.photos.length : 1;
		if (room <= 0) { AP.tip('最多上传 ' + MAX_PHOTOS + ' 张照片'); return; }
		var wx = AP.wxNow();
		if (wx) {
			try {
				var blobs = await AP.wxChoose(wx, room);
				blobs.forEach(function (b) { addPhoto(target, b, 'wechat.jpg'); });
			} catch (e) {
				AP.tip(AP.errorText(e));
			}
			return;
		}
		inputTarget = target;
		input.multiple = target === 'photos';
		input.value = '';
		input.click();
	}

	input.addEventListener('change', function () {
		var files = Array.prototype.slice.call(input.files || []);
		var target = inputTarget || (state.kind === 'fitting' ? 'person' : 'photos');
		if (target === 'photos') {
			var room = MAX_PHOTOS - state.photos.length;
			if (files.length > room) AP.tip('最多上传 ' + MAX_PHOTOS + ' 张照片，多出的没有添加');
			files = files.slice(0, Math.max(0, room));
		} else {
			files = files.slice(0, 1);
		}
		files.forEach(function (f) { addPhoto(target, f, f.name); });
		input.value = '';
	});

	/* Shows the photo at once, scales it down when very large, uploads it with progress. */
	async function addPhoto(target, file, name) {
		var item = {key: nextKey++, url: URL.createObjectURL(file), asset: null, progress: 0};
		if (target === 'photos') state.photos.push(item);
		else state[target] = item;
		render();
		try {
			var blob = await AP.downscale(file);
			item.asset = await AP.upload(blob, name, function (f) {
				item.progress = f;
				var bar = document.querySelector('[data-key="' + item.key + '"] .ap-tile-progress');
				if (bar) bar.style.width = Math.round(f * 100) + '%';
			});
			item.progress = 1;
			var old = $('#upload-error');
			if (old) old.remove();
		} catch (e) {
			drop(target, item);
			AP.tip(AP.errorText(e));
			showRefusal(AP.errorText(e));
		}
		save();
		render();
	}

	function showRefusal(text) {
		var n = $('#upload-error');
		if (!n) {
			n = el('p', {id: 'upload-error', class: 'ap-hint ap-short', role: 'alert'});
			$('#view').insertBefore(n, $('#photo-section'));
		}
		n.textContent = '上传未成功：' + text;
	}

	function drop(target, item) {
		if (target === 'photos') {
			state.photos = state.photos.filter(function (p) { return p !== item; });
		} else if (state[target] === item) {
			state[target] = null;
		}
		if (item.url && item.url.slice(0, 5) === 'blob:') URL.revokeObjectURL(item.url);
	}

	function photoTile(target, item, label) {
		var done = !!item.asset;
		return el('div', {class: 'ap-tile', 'data-key': item.key, 'data-asset': done ? item.asset.asset_id : null}, [
			el('img', {src: item.url, alt: label || '已选照片'}),
			done ? null : el('span', {class: 'ap-tile-label', text: '上传中…'}),
			done ? null : el('i', {class: 'ap-tile-progress', style: 'width:' + Math.round(item.progress * 100) + '%'}),
			el('button', {type: 'button', class: 'ap-tile-remove', 'aria-label': '移除这张照片', text: '✕',
				onclick: function () { drop(target, item); save(); render(); }})
		]);
	}

	function addTile(target, text) {
		return el('button', {type: 'button', class: 'ap-tile ap-add', id: 'add-' + target, text: text,
			onclick: function () { choose(target); }});
	}

	/* ------------------------------------------------------------ rendering */

	function renderPhotos() {
		var box = $('#photos');
		box.textContent = '';
		state.photos.forEach(function (p, i) { box.appendChild(photoTile('photos', p, '照片 ' + (i + 1))); });
		if (state.photos.length < MAX_PHOTOS) box.appendChild(addTile('photos', '+ 添加照片'));
		['person', 'garment'].forEach(function (slot) {
			var node = $('#slot-' + slot);
			node.textContent = '';
			node.appendChild(state[slot] ? photoTile(slot, state[slot], slot === 'person' ? '人物照' : '服装照') :
				addTile(slot, slot === 'person' ? '+ 人物照' : '+ 服装照'));
		});
	}

	function categories() {
		var seen = [];
		scenes.forEach(function (s) { if (seen.indexOf(s.category) < 0) seen.push(s.category); });
		return seen;
	}

	function renderScenes() {
		var cats = categories();
		if (!state.category || cats.indexOf(state.category) < 0) {
			var chosen = scenes.filter(function (s) { return s.id === state.scene; })[0];
			state.category = chosen ? chosen.category : cats[0];
		}
		var chips = $('#categories');
		chips.textContent = '';
		cats.forEach(function (c) {
			chips.appendChild(el('button', {type: 'button', class: 'ap-chip', text: c,
				'aria-pressed': c === state.category ? 'true' : 'false',
				onclick: function () { state.category = c; renderScenes(); }}));
		});
		var box = $('#scenes');
		box.textContent = '';
		if (!scenes.length) box.appendChild(el('p', {class: 'ap-muted', text: '暂无可用场景'}));
		scenes.filter(function (s) { return s.category === state.category; }).forEach(function (s) {
			var img = s.thumbnail_url ? el('img', {src: s.thumbnail_url, alt: '', loading: 'lazy'}) : null;
			if (img) img.addEventListener('error', function () { img.remove(); });
			box.appendChild(el('button', {type: 'button', class: 'ap-tile ap-scene', 'data-scene': s.id,
				'aria-pressed': s.id === state.scene ? 'true' : 'false',
				onclick: function () { state.scene = s.id; save(); render(); }}, [
				img, el('span', {class: 'ap-tile-label', text: s.name})
			]));
		});
	}

	/* The request generate would send, or null with the reason it cannot yet. */
	function request() {
		var uploading = state.photos.concat([state.person, state.garment]).some(function (p) {
			return p && !p.asset;
		});
		if (uploading) return {why: '照片上传中，请稍候'};
		if (state.kind === 'photography') {
			if (!state.photos.length) return {why: '请先上传至少一张照片'};
			if (!state.scene) return {why: '请选择一个场景'};
			return {body: {scene_id: state.scene, count: state.count, params: {},
				asset_ids: state.photos.map(function (p) { return p.asset.asset_id; })}};
		}
		if (!state.person || !state.garment) return {why: '请上传人物照和服装照'};
		return {body: {person_asset_id: state.person.asset.asset_id,
			garment_asset_id: state.garment.asset.asset_id, count: state.count, params: {}}};
	}

	function renderSummary() {
		var unit = pricing ? Number(pricing[state.kind]) : null;
		var total = unit === null ? null : unit * state.count;
		AP.setText('#unit-price', unit === null ? '–' : unit);
		AP.setText('#total-price', total === null ? '–' : total);
		AP.setText('#balance', credits === null ? '–' : credits);
		var short = total !== null && credits !== null && total > credits;
		$('#short').classList.toggle('ap-hidden', !short);
		$('#count').value = String(state.count);
		var r = request();
		var btn = $('#generate');
		if (btn.getAttribute('aria-busy') !== 'true') btn.disabled = !r.body || short;
		AP.setText('#generate-hint', r.body ? (short ? '积分不足，请先充值' : '将消耗 ' + total + ' 积分') : r.why);
	}

	function render() {
		document.querySelectorAll('.ap-segment button').forEach(function (b) {
			b.setAttribute('aria-pressed', b.getAttribute('data-kind') === state.kind ? 'true' : 'false');
		});
		var photo = state.kind === 'photography';
		input.multiple = photo;
		$('#photo-section').classList.toggle('ap-hidden', !photo);
		$('#scene-section').classList.toggle('ap-hidden', !photo);
		$('#fitting-section').classList.toggle('ap-hidden', photo);
		renderPhotos();
		renderScenes();
		renderSummary();
	}

	/* ------------------------------------------------------------ actions */

	document.querySelectorAll('.ap-segment button').forEach(function (b) {
		b.addEventListener('click', function () {
			state.kind = b.getAttribute('data-kind');
			history.replaceState(null, '', location.pathname + '?kind=' + state.kind);
			save();
			render();
		});
	});

	function setCount(n) {
		state.count = clampCount(n);
		save();
		renderSummary();
	}

	$('#count-minus').addEventListener('click', function () { setCount(state.count - 1); });
	$('#count-plus').addEventListener('click', function () { setCount(state.count + 1); });
	$('#count').addEventListener('change', function () { setCount(this.value); });

	$('#generate').addEventListener('click', function () {
		var r = request();
		if (!r.body) { AP.tip(r.why); return; }
		var key = JSON.stringify([state.kind, r.body]);
		if (state.idemFor !== key) { state.idemKey = AP.randomKey(); state.idemFor = key; }
		AP.busy(this, async function () {
			var task;
			try {
				task = await AP.api('POST', '/tasks/' + state.kind, r.body, {idempotencyKey: state.idemKey});
			} catch (e) {
				if (e.code === 'INSUFFICIENT_CREDITS') {
					credits = (await AP.api('GET', '/user/credits')).credits;
					renderSummary();
				}
				throw e;
			}
			try { sessionStorage.removeItem(SAVE_KEY); } catch (e) { /* nothing kept */ }
			location.href = 'task.html?id=' + encodeURIComponent(task.id);
			await new Promise(function () {}); // the button stays busy until the page leaves
		});
	});

	AP.start({
		scope: 'snsapi_base',
		load: async function () {
			restore();
			var r = await Promise.all([
				AP.api('GET', '/scenes'),
				AP.api('GET', '/config/pricing', undefined, {anonymous: true}),
				AP.api('GET', '/user/credits')
			]);
			scenes = r[0] || [];
			pricing = r[1];
			credits = r[2].credits;
			if (state.scene && !scenes.some(function (s) { return s.id === state.scene; })) state.scene = null;
			$('#view').classList.remove('ap-hidden');
			render();
			AP.wxReady(); // signs the JS-SDK ahead of the first tap
		}
	});
})();
