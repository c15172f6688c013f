/*
 * works.js — works.html: the gallery in four tabs (all, photography, try-on, favourites) on
 * GET /works's cursor, the next page loaded as the end of the list scrolls into view (a
 * button does the same where IntersectionObserver is missing). A tap shows the full image
 * (WeChat's previewImage inside WeChat). The heart toggles the favourite; "选择" picks works
 * to delete (after a confirmation) or to download as one ZIP, the latter only where the
 * server has POST /works/download and outside WeChat, whose browser does not download files:
 * there the page says to long-press the full image instead.
 */
(function () {
	'use strict';
	var $ = AP.$;
	var el = AP.el;
	var TABS = ['all', 'photography', 'fitting', 'favorite'];
	var PAGE = 12;
	var list = {tab: 'all', cursor: null, done: false, gen: 0, loading: false};
	var works = {}; // id → Work shown
	var selecting = false;
	var selected = {};
	var canDownload = false;

	function show(sel, on) {
		$(sel).classList.toggle('ap-hidden', !on);
	}

	function shownUrls() {
		return Array.prototype.map.call(document.querySelectorAll('#works .ap-work'), function (n) {
			var w = works[n.getAttribute('data-work')];
			return w.image_url || w.thumb_url;
		});
	}

	function tile(w) {
		var fav = el('button', {type: 'button', class: 'ap-tile-fav', 'aria-pressed': w.is_favorite ? 'true' : 'false',
			'aria-label': w.is_favorite ? '取消收藏' : '收藏', text: w.is_favorite ? '♥' : '♡'});
		var check = el('span', {class: 'ap-tile-check', 'aria-hidden': 'true'});
		var node = el('div', {class: 'ap-tile ap-work', 'data-work': w.id, role: 'button', tabindex: '0',
			'aria-label': '作品 ' + w.id}, [
			el('img', {src: w.thumb_url || w.image_url, alt: '', loading: 'lazy'}),
			check,
			fav
		]);
		node.addEventListener('click', function (ev) {
			if (ev.target === fav) return;
			if (selecting) toggleSelected(w.id, node);
			else AP.showImage(w.image_url || w.thumb_url, shownUrls());
		});
		fav.addEventListener('click', function () {
			AP.busy(fav, async function () {
				var nw = await AP.api('POST', '/works/' + w.id + '/favorite', {favorite: !w.is_favorite});
				works[w.id] = nw;
				if (list.tab === 'favorite' && !nw.is_favorite) { node.remove(); emptyCheck(); return; }
				node.replaceWith(tile(nw));
				AP.toast(nw.is_favorite ? '已收藏' : '已取消收藏');
			});
		});
		return node;
	}

	function toggleSelected(id, node) {
		if (selected[id]) delete selected[id];
		else selected[id] = true;
		node.setAttribute('aria-pressed', selected[id] ? 'true' : 'false');
		$('.ap-tile-check', node).textContent = selected[id] ? '✔' : '';
		updateToolbar();
	}

	function selectedIds() {
		return Object.keys(selected).map(Number);
	}

	function updateToolbar() {
		var n = selectedIds().length;
		$('#select-mode').textContent = selecting ? '完成' : '选择';
		$('#select-mode').setAttribute('aria-pressed', selecting ? 'true' : 'false');
		show('#delete-selected', selecting);
		show('#download-selected', selecting && canDownload && !AP.inWeChat());
		show('#save-hint', AP.inWeChat());
		$('#delete-selected').disabled = n === 0;
		$('#download-selected').disabled = n === 0;
		AP.setText('#delete-selected', n ? '删除 ' + n + ' 张' : '删除');
		AP.setText('#download-selected', n ? '打包下载 ' + n + ' 张' : '打包下载');
	}

	function emptyCheck() {
		if (!$('#works').children.length && list.done) {
			show('#works-end', true);
			AP.setText('#works-end-text', list.tab === 'favorite' ? '还没有收藏的作品' : '还没有作品');
		}
	}

	async function loadPage() {
		if (list.loading || list.done) return;
		var gen = list.gen;
		list.loading = true;
		show('#works-loading', true);
		show('#more-area', false);
		var d;
		try {
			d = await AP.api('GET', '/works?tab=' + list.tab + '&limit=' + PAGE +
				(list.cursor ? '&cursor=' + encodeURIComponent(list.cursor) : ''));
		} catch (e) {
			if (gen === list.gen) show('#more-area', true);
			throw e;
		} finally {
			if (gen === list.gen) {
				list.loading = false;
				show('#works-loading', false);
			}
		}
		if (gen !== list.gen) return;
		d.items.forEach(function (w) {
			works[w.id] = w;
			$('#works').appendChild(tile(w));
		});
		list.cursor = d.next_cursor || null;
		list.done = !list.cursor;
		show('#more-area', !list.done && !observer);
		show('#works-end', list.done);
		AP.setText('#works-end-text', $('#works').children.length ? '没有更多了' :
			(list.tab === 'favorite' ? '还没有收藏的作品' : '还没有作品'));
		// the sentinel may still be in view after a short page: keep filling the screen
		if (!list.done && observer && sentinelVisible()) await loadPage();
	}

	function sentinelVisible() {
		var r = $('#sentinel').getBoundingClientRect();
		return r.top < window.innerHeight + 200;
	}

	var observer = null;
	if ('IntersectionObserver' in window) {
		observer = new IntersectionObserver(function (entries) {
			if (entries.some(function (e) { return e.isIntersecting; })) {
				loadPage().catch(function (e) { AP.tip(AP.errorText(e)); });
			}
		}, {rootMargin: '200px'});
	}

	function selectTab(tab) {
		list = {tab: tab, cursor: null, done: false, gen: list.gen + 1, loading: false};
		selected = {};
		updateToolbar();
		markTab(tab);
		$('#works').textContent = '';
		show('#works-end', false);
		history.replaceState(null, '', location.pathname + '?tab=' + tab);
		return loadPage();
	}

	var markTab = AP.navbarTabs('tab', function (tab) { return selectTab(tab); });

	$('#load-more').addEventListener('click', function () { AP.busy(this, loadPage); });

	$('#select-mode').addEventListener('click', function () {
		selecting = !selecting;
		selected = {};
		document.querySelectorAll('#works .ap-work').forEach(function (n) {
			n.removeAttribute('aria-pressed');
			$('.ap-tile-check', n).textContent = '';
		});
		updateToolbar();
	});

	$('#delete-selected').addEventListener('click', function () {
		var btn = this;
		var ids = selectedIds();
		if (!ids.length) return;
		AP.confirm('删除作品', '确定删除选中的 ' + ids.length + ' 张作品吗？删除后无法恢复。', '删除').then(function (ok) {
			if (!ok) return;
			AP.busy(btn, async function () {
				var n = 1;
				if (ids.length === 1) await AP.api('DELETE', '/works/' + ids[0]);
				else n = (await AP.api('POST', '/works/batch-delete', {ids: ids})).deleted;
				ids.forEach(function (id) {
					var node = document.querySelector('#works [data-work="' + id + '"]');
					if (node) node.remove();
					delete works[id];
				});
				selected = {};
				updateToolbar();
				emptyCheck();
				AP.toast('已删除 ' + n + ' 张');
			});
		});
	});

	/* POST /works/download → a ZIP, saved through a temporary link. */
	$('#download-selected').addEventListener('click', function () {
		var ids = selectedIds();
		AP.busy(this, async function () {
			var res = await fetch('/api/v1/works/download', {
				method: 'POST',
				headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + localStorage.getItem('aiphoto.token')},
				body: JSON.stringify({ids: ids})
			});
			if (!res.ok) {
				var env = null;
				try { env = await res.json(); } catch (e) { env = null; }
				throw new Error(env && env.message ? env.message : '下载失败（HTTP ' + res.status + '）');
			}
			var url = URL.createObjectURL(await res.blob());
			var a = el('a', {href: url, download: 'aiphoto-works.zip', class: 'ap-offscreen'});
			document.body.appendChild(a);
			a.click();
			a.remove();
			setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
		});
	});

	/*
	 * Whether the server can zip works: POST /works/download with no ids is refused as a bad
	 * request where the route exists, and answers 404 or 405 (the /works/:id pattern) where
	 * it does not. Nothing is downloaded by the check.
	 */
	async function detectDownload() {
		try {
			var res = await fetch('/api/v1/works/download', {
				method: 'POST',
				headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + localStorage.getItem('aiphoto.token')},
				body: '{"ids":[]}'
			});
			return res.status !== 404 && res.status !== 405 && res.status < 500;
		} catch (e) {
			return false;
		}
	}

	AP.start({
		scope: 'snsapi_base',
		load: async function () {
			var tab = new URLSearchParams(location.search).get('tab');
			$('#view').classList.remove('ap-hidden');
			AP.wxReady(); // inside WeChat: previewImage for the full image, set up ahead of a tap
			var r = await Promise.all([selectTab(TABS.indexOf(tab) >= 0 ? tab : 'all'), detectDownload()]);
			canDownload = r[1];
			updateToolbar();
			if (observer) observer.observe($('#sentinel'));
		}
	});
})();
