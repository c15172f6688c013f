/* metrics — see metrics.h. */
#include "lib/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define METRICS_MAGIC 0x6169706d6574726bULL /* "aipmetrk" */
#define METRICS_LAYOUT 1
#define METRICS_CACHE 512 /* per-process lookup table of route entries (power of two) */

const double metrics_bucket_le[METRICS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,  0.5,    1,     2.5,  5,     10};

static const char *const metrics_class_names[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

struct metrics_route {
	char method[8];
	char route[METRICS_LABEL_MAX];
	uint64_t status[5]; /* by class, 1xx..5xx */
	uint64_t bucket[METRICS_BUCKETS]; /* not cumulative: the first bound ≥ the latency */
	uint64_t sum_us;
};

struct metrics_evt {
	uint32_t family;
	char label[METRICS_LABEL_MAX];
	uint64_t count;
};

struct metrics_slot {
	uint64_t generation; /* workers that took this slot */
	int32_t pid; /* the current one */
	uint32_t nroutes, nevents; /* published with release */
	uint32_t pad;
	uint64_t counters[METRICS__COUNTERS];
	uint64_t errors[E__MAX];
	struct metrics_route routes[METRICS_MAX_ROUTES];
	struct metrics_evt events[METRICS_MAX_EVENTS];
};

struct metrics_header {
	uint64_t magic;
	uint32_t layout, nslots;
	uint64_t slot_size;
};

static struct metrics_header *metrics_map;
static size_t metrics_map_len;
static bool metrics_map_rw; /* mapped by metrics_create (a worker may attach), not metrics_open */
static struct metrics_slot *metrics_own;
static struct {
	uint64_t hash;
	int idx; /* 1 + index into the slot's routes; 0 = empty */
} metrics_cache[METRICS_CACHE];

#define METRICS_INC(p) \
	__atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#define METRICS_ADD(p, v) \
	__atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define METRICS_GET(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static struct metrics_slot *metrics_slot_at(uint32_t i)
{
	return (struct metrics_slot *)((char *)metrics_map + sizeof(*metrics_map) +
	                               (size_t)i * sizeof(struct metrics_slot));
}

void metrics_close(void)
{
	if (metrics_map != NULL)
		munmap(metrics_map, metrics_map_len);
	metrics_map = NULL;
	metrics_map_len = 0;
	metrics_map_rw = false;
	metrics_own = NULL;
	memset(metrics_cache, 0, sizeof(metrics_cache));
}

int metrics_create(const char *path, int nslots)
{
	size_t len = sizeof(struct metrics_header) + (size_t)nslots * sizeof(struct metrics_slot);
	void *p = MAP_FAILED;
	int fd = -1;

	if (nslots < 1)
		return -1;
	if (path != NULL) {
		/* a new file renamed over the old one, never the old one truncated: processes that
		 * still map the old file (another pool started with the same path, a scraper) keep
		 * their pages, where a truncation would kill them with SIGBUS */
		char tmp[4096];
		int n = snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
		if (n > 0 && (size_t)n < sizeof(tmp))
			fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
		/* blocks allocated now: a page first written into a sparse file on a full disk
		 * would be SIGBUS in a worker */
		if (fd < 0 || (errno = posix_fallocate(fd, 0, (off_t)len)) != 0 ||
		    rename(tmp, path) != 0) {
			log_warn("metrics: cannot create %s (%s); counting in memory only", path,
			         strerror(errno));
			if (fd >= 0)
				unlink(tmp);
		} else {
			p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		}
		if (fd >= 0)
			close(fd);
	}
	if (p == MAP_FAILED)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	memset(p, 0, len);
	metrics_close();
	metrics_map = p;
	metrics_map_len = len;
	metrics_map_rw = true;
	metrics_map->layout = METRICS_LAYOUT;
	metrics_map->nslots = (uint32_t)nslots;
	metrics_map->slot_size = sizeof(struct metrics_slot);
	__atomic_store_n(&metrics_map->magic, METRICS_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

void metrics_attach(int slot)
{
	metrics_own = NULL;
	memset(metrics_cache, 0, sizeof(metrics_cache));
	if (metrics_map == NULL || !metrics_map_rw || slot < 0 ||
	    (uint32_t)slot >= metrics_map->nslots)
		return;
	metrics_own = metrics_slot_at((uint32_t)slot);
	METRICS_INC(&metrics_own->generation);
	__atomic_store_n(&metrics_own->pid, (int32_t)getpid(), __ATOMIC_RELAXED);
}

int metrics_open(const char *path)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof(struct metrics_header)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -1;
	metrics_close();
	metrics_map = p;
	metrics_map_len = (size_t)st.st_size;
	if (metrics_map->magic != METRICS_MAGIC || metrics_map->layout != METRICS_LAYOUT ||
	    metrics_map->slot_size != sizeof(struct metrics_slot) ||
	    sizeof(*metrics_map) + metrics_map->nslots * sizeof(struct metrics_slot) >
	        metrics_map_len) {
		munmap(p, metrics_map_len);
		metrics_map = NULL;
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* FNV-1a over method, a separator and route. */
static uint64_t metrics_hash(const char *method, const char *route)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *s = method; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	h = (h ^ ' ') * 0x100000001b3ULL;
	for (const char *s = route; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static bool metrics_route_is(const struct metrics_route *r, const char *method, const char *route)
{
	return strncmp(r->method, method, sizeof(r->method) - 1) == 0 &&
	       r->method[strnlen(method, sizeof(r->method) - 1)] == '\0' &&
	       strncmp(r->route, route, METRICS_LABEL_MAX - 1) == 0 &&
	       r->route[strnlen(route, METRICS_LABEL_MAX - 1)] == '\0';
}

/* The own slot's entry for (method, route): cached, else found, else appended; the
 * "(other)" entry when the slot is full.  NULL only when even that cannot be made. */
static struct metrics_route *metrics_route_entry(const char *method, const char *route)
{
	struct metrics_slot *s = metrics_own;
	uint64_t h = metrics_hash(method, route);
	size_t i = h & (METRICS_CACHE - 1), probes;
	uint32_t n = __atomic_load_n(&s->nroutes, __ATOMIC_ACQUIRE), k;
	struct metrics_route *r;

	for (probes = 0; probes < METRICS_CACHE && metrics_cache[i].idx != 0; probes++) {
		r = &s->routes[metrics_cache[i].idx - 1];
		if (metrics_cache[i].hash == h && metrics_route_is(r, method, route))
			return r;
		i = (i + 1) & (METRICS_CACHE - 1);
	}
	for (k = 0; k < n && !metrics_route_is(&s->routes[k], method, route); k++)
		;
	if (k == n) {
		if (n >= METRICS_MAX_ROUTES - 1 && strcmp(route, "(other)") != 0)
			return metrics_route_entry("OTHER", "(other)");
		if (n >= METRICS_MAX_ROUTES)
			return NULL;
		r = &s->routes[n];
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->route, sizeof(r->route), "%s", route);
		__atomic_store_n(&s->nroutes, n + 1, __ATOMIC_RELEASE);
	}
	if (probes < METRICS_CACHE) {
		metrics_cache[i].hash = h;
		metrics_cache[i].idx = (int)k + 1;
	}
	return &s->routes[k];
}

void metrics_request(const char *method, const char *route, int status, enum api_err err,
                     long long us)
{
	struct metrics_route *r;
	int b;

	if (metrics_own == NULL)
		return;
	if (method == NULL || strlen(method) >= sizeof(r->method))
		method = "OTHER";
	r = metrics_route_entry(method, route != NULL ? route : "(unmatched)");
	if (r == NULL)
		return;
	/* a status outside 1xx-5xx is not counted at all, so that +Inf (the classes' sum) and
	 * the buckets always agree */
	if (status >= 100 && status < 600) {
		METRICS_INC(&r->status[status / 100 - 1]);
		for (b = 0; b < METRICS_BUCKETS && (double)us > metrics_bucket_le[b] * 1e6; b++)
			;
		if (b < METRICS_BUCKETS)
			METRICS_INC(&r->bucket[b]);
		METRICS_ADD(&r->sum_us, us > 0 ? (uint64_t)us : 0);
	}
	if (err != E_OK && (unsigned)err < E__MAX)
		METRICS_INC(&metrics_own->errors[err]);
}

void metrics_count(enum metrics_counter c)
{
	if (metrics_own != NULL && (unsigned)c < METRICS__COUNTERS)
		METRICS_INC(&metrics_own->counters[c]);
}

void metrics_event(enum metrics_family f, const char *label)
{
	struct metrics_slot *s = metrics_own;
	uint32_t n, k;

	if (s == NULL || (unsigned)f >= METRICS__FAMILIES)
		return;
	if (label == NULL)
		label = "-";
	n = __atomic_load_n(&s->nevents, __ATOMIC_ACQUIRE);
	for (k = 0; k < n; k++)
		if (s->events[k].family == f &&
		    strncmp(s->events[k].label, label, METRICS_LABEL_MAX - 1) == 0)
			break;
	if (k == n) {
		if (n >= METRICS_MAX_EVENTS)
			return;
		s->events[n].family = f;
		snprintf(s->events[n].label, sizeof(s->events[n].label), "%s", label);
		__atomic_store_n(&s->nevents, n + 1, __ATOMIC_RELEASE);
	}
	METRICS_INC(&s->events[k].count);
}

/* ------------------------------------------------------------------ rendering */

void metrics_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p != NULL ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		b->cap =
		    b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 : b->len + (size_t)n + 4096;
		b->p = xrealloc(b->p, b->cap);
	}
}

void metrics_label(struct metrics_buf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			metrics_printf(b, "\\%c", *v);
		else if (*v == '\n')
			metrics_printf(b, "\\n");
		else
			metrics_printf(b, "%c", *v);
	}
}

/* The sums over every slot of one (method, route), rendering as it goes: the merged list is
 * built in a heap array (the set is small: at most slots × METRICS_MAX_ROUTES entries, in
 * practice the route count). */
struct metrics_sum {
	const char *method, *route;
	uint64_t status[5], bucket[METRICS_BUCKETS], sum_us;
};

static void metrics_sum_routes(struct metrics_sum **out, size_t *n)
{
	struct metrics_sum *v = NULL;
	size_t cnt = 0, cap = 0;

	for (uint32_t i = 0; i < metrics_map->nslots; i++) {
		struct metrics_slot *s = metrics_slot_at(i);
		uint32_t nr = __atomic_load_n(&s->nroutes, __ATOMIC_ACQUIRE);
		if (nr > METRICS_MAX_ROUTES)
			nr = METRICS_MAX_ROUTES;
		for (uint32_t k = 0; k < nr; k++) {
			struct metrics_route *r = &s->routes[k];
			size_t j;
			for (j = 0; j < cnt; j++)
				if (metrics_route_is(r, v[j].method, v[j].route))
					break;
			if (j == cnt) {
				if (cnt == cap) {
					cap = cap ? cap * 2 : 64;
					v = xrealloc(v, cap * sizeof(*v));
				}
				memset(&v[cnt], 0, sizeof(v[cnt]));
				v[cnt].method = r->method;
				v[cnt].route = r->route;
				cnt++;
			}
			for (int c = 0; c < 5; c++)
				v[j].status[c] += METRICS_GET(&r->status[c]);
			for (int b = 0; b < METRICS_BUCKETS; b++)
				v[j].bucket[b] += METRICS_GET(&r->bucket[b]);
			v[j].sum_us += METRICS_GET(&r->sum_us);
		}
	}
	*out = v;
	*n = cnt;
}

static void metrics_series(struct metrics_buf *b, const char *name, const struct metrics_sum *m)
{
	metrics_printf(b, "%s{method=\"", name);
	metrics_label(b, m->method);
	metrics_printf(b, "\",route=\"");
	metrics_label(b, m->route);
	metrics_printf(b, "\"");
}

static void metrics_render_requests(struct metrics_buf *b)
{
	struct metrics_sum *v;
	size_t n;

	metrics_sum_routes(&v, &n);
	metrics_printf(b, "# HELP aiphoto_http_requests_total Requests answered, by method, route "
	                  "pattern and status class.\n"
	                  "# TYPE aiphoto_http_requests_total counter\n");
	for (size_t j = 0; j < n; j++)
		for (int c = 0; c < 5; c++)
			if (v[j].status[c] != 0) {
				metrics_series(b, "aiphoto_http_requests_total", &v[j]);
				metrics_printf(b, ",code=\"%s\"} %llu\n", metrics_class_names[c],
				               (unsigned long long)v[j].status[c]);
			}
	metrics_printf(b, "# HELP aiphoto_http_request_duration_seconds Time from the request's "
	                  "arrival at the worker to its answer being handed back.\n"
	                  "# TYPE aiphoto_http_request_duration_seconds histogram\n");
	for (size_t j = 0; j < n; j++) {
		uint64_t cum = 0, total = 0;
		for (int c = 0; c < 5; c++)
			total += v[j].status[c];
		for (int k = 0; k < METRICS_BUCKETS; k++) {
			cum += v[j].bucket[k];
			metrics_series(b, "aiphoto_http_request_duration_seconds_bucket", &v[j]);
			metrics_printf(b, ",le=\"%g\"} %llu\n", metrics_bucket_le[k],
			               (unsigned long long)cum);
		}
		/* a request of ≥ 10 s is in +Inf only; a class outside 1xx-5xx is in neither */
		metrics_series(b, "aiphoto_http_request_duration_seconds_bucket", &v[j]);
		metrics_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)total);
		metrics_series(b, "aiphoto_http_request_duration_seconds_sum", &v[j]);
		metrics_printf(b, "} %.6f\n", (double)v[j].sum_us / 1e6);
		metrics_series(b, "aiphoto_http_request_duration_seconds_count", &v[j]);
		metrics_printf(b, "} %llu\n", (unsigned long long)total);
	}
	free(v);
}

/* The count of event e (its family and label) summed over slots [from, to); *found whether
 * any of them has it. */
static uint64_t metrics_event_sum(uint32_t from, uint32_t to, const struct metrics_evt *e,
                                  bool *found)
{
	uint64_t sum = 0;

	*found = false;
	for (uint32_t i = from; i < to; i++) {
		struct metrics_slot *s = metrics_slot_at(i);
		uint32_t n = __atomic_load_n(&s->nevents, __ATOMIC_ACQUIRE);
		for (uint32_t k = 0; k < n && k < METRICS_MAX_EVENTS; k++)
			if (s->events[k].family == e->family &&
			    strcmp(s->events[k].label, e->label) == 0) {
				sum += METRICS_GET(&s->events[k].count);
				*found = true;
			}
	}
	return sum;
}

static void metrics_render_plain(struct metrics_buf *b)
{
	static const struct {
		const char *name, *help;
	} counters[METRICS__COUNTERS] = {
	    [METRICS_DB_CONNECTS] = {"aiphoto_db_connects_total",
	                             "PostgreSQL connections opened by the workers."},
	    [METRICS_DB_LOSSES] = {"aiphoto_db_connection_losses_total",
	                           "PostgreSQL connections the workers found dead."},
	    [METRICS_REDIS_CONNECTS] = {"aiphoto_redis_connects_total",
	                                "Redis connections opened by the workers."},
	    [METRICS_REDIS_ERRORS] = {"aiphoto_redis_errors_total",
	                              "Redis commands that failed on a broken connection."},
	};
	static const struct {
		const char *name, *label, *help;
	} families[METRICS__FAMILIES] = {
	    [METRICS_RATE_LIMITED] = {"aiphoto_rate_limited_total", "class",
	                              "Requests refused by a rate-limit class."},
	    [METRICS_PAY_NOTIFY] = {"aiphoto_payment_notify_total", "verdict",
	                            "WeChat Pay notifications by verdict."},
	    [METRICS_PAY_ORDER] = {"aiphoto_payment_orders_total", "event",
	                           "Payment orders created through the API."},
	    [METRICS_OA_CALLBACK] = {"aiphoto_oa_callbacks_total", "verdict",
	                             "Official Account callbacks by verdict."},
	};
	uint64_t errs[E__MAX] = {0}, sum;

	metrics_printf(b, "# HELP aiphoto_api_errors_total Error answers by API code.\n"
	                  "# TYPE aiphoto_api_errors_total counter\n");
	for (uint32_t i = 0; i < metrics_map->nslots; i++)
		for (int e = 0; e < E__MAX; e++)
			errs[e] += METRICS_GET(&metrics_slot_at(i)->errors[e]);
	for (int e = 1; e < E__MAX; e++)
		metrics_printf(b, "aiphoto_api_errors_total{code=\"%s\"} %llu\n",
		               api_err_code((enum api_err)e), (unsigned long long)errs[e]);
	for (int c = 0; c < METRICS__COUNTERS; c++) {
		sum = 0;
		for (uint32_t i = 0; i < metrics_map->nslots; i++)
			sum += METRICS_GET(&metrics_slot_at(i)->counters[c]);
		metrics_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[c].name,
		               counters[c].help, counters[c].name, counters[c].name,
		               (unsigned long long)sum);
	}
	for (int f = 0; f < METRICS__FAMILIES; f++) {
		metrics_printf(b, "# HELP %s %s\n# TYPE %s counter\n", families[f].name,
		               families[f].help, families[f].name);
		/* sum per label over the slots: the first slot holding a label renders it */
		for (uint32_t i = 0; i < metrics_map->nslots; i++) {
			struct metrics_slot *s = metrics_slot_at(i);
			uint32_t ne = __atomic_load_n(&s->nevents, __ATOMIC_ACQUIRE);
			for (uint32_t k = 0; k < ne && k < METRICS_MAX_EVENTS; k++) {
				const struct metrics_evt *e = &s->events[k];
				bool seen;
				if (e->family != (uint32_t)f)
					continue;
				metrics_event_sum(0, i, e, &seen);
				if (seen)
					continue;
				sum = metrics_event_sum(i, metrics_map->nslots, e, &seen);
				metrics_printf(b, "%s{%s=\"", families[f].name, families[f].label);
				metrics_label(b, e->label);
				metrics_printf(b, "\"} %llu\n", (unsigned long long)sum);
			}
		}
	}
}

void metrics_render(struct metrics_buf *b)
{
	if (metrics_map == NULL)
		return;
	metrics_render_requests(b);
	metrics_render_plain(b);
	metrics_printf(b, "# HELP aiphoto_worker_generation Workers that have taken each pool "
	                  "slot (a rise is a replaced worker).\n"
	                  "# TYPE aiphoto_worker_generation gauge\n");
	for (uint32_t i = 0; i < metrics_map->nslots; i++)
		metrics_printf(b, "aiphoto_worker_generation{slot=\"%u\"} %llu\n", i,
		               (unsigned long long)METRICS_GET(&metrics_slot_at(i)->generation));
}

bool metrics_allowed(const char *list, const char *addr)
{
	size_t n = addr != NULL ? strlen(addr) : 0;

	if (n == 0 || list == NULL)
		return false;
	for (const char *p = list; *p != '\0';) {
		size_t len = strcspn(p, ","), l = len;
		const char *s = p;

		while (l > 0 && *s == ' ') {
			s++;
			l--;
		}
		while (l > 0 && s[l - 1] == ' ')
			l--;
		if (l == n && strncmp(s, addr, n) == 0)
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

int metrics_slot_pids(int *pids, int n)
{
	int i;

	if (metrics_map == NULL)
		return 0;
	for (i = 0; i < n && (uint32_t)i < metrics_map->nslots; i++)
		pids[i] = METRICS_GET(&metrics_slot_at((uint32_t)i)->pid);
	return i;
}
