/*
 * pool — see pool.h.
 */
#include "lib/pool.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

struct pool_shared {
	int configured, alive;
	long long restarts, last_death;
	int last_slot, last_pid, last_exit, last_signal;
};

static struct pool_shared *pool_page;

#define POOL_SET(field, v) __atomic_store_n(&pool_page->field, (v), __ATOMIC_RELAXED)
#define POOL_GET(field) __atomic_load_n(&pool_page->field, __ATOMIC_RELAXED)

int pool_create(int configured)
{
	void *p;

	if (pool_page == NULL) {
		p = mmap(NULL, sizeof(*pool_page), PROT_READ | PROT_WRITE,
		         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		pool_page = p;
		memset(pool_page, 0, sizeof(*pool_page));
	}
	POOL_SET(configured, configured);
	return 0;
}

void pool_set_alive(int alive)
{
	if (pool_page != NULL)
		POOL_SET(alive, alive);
}

void pool_note_restart(void)
{
	if (pool_page != NULL)
		__atomic_add_fetch(&pool_page->restarts, 1, __ATOMIC_RELAXED);
}

void pool_note_death(int slot, pid_t pid, int wstatus)
{
	if (pool_page == NULL)
		return;
	POOL_SET(last_slot, slot);
	POOL_SET(last_pid, (int)pid);
	POOL_SET(last_exit, WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
	POOL_SET(last_signal, WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
	POOL_SET(last_death, (long long)time(NULL));
}

bool pool_read(struct pool_view *v)
{
	memset(v, 0, sizeof(*v));
	if (pool_page == NULL)
		return false;
	v->configured = POOL_GET(configured);
	v->alive = POOL_GET(alive);
	v->restarts = POOL_GET(restarts);
	v->last_death = POOL_GET(last_death);
	v->last_slot = POOL_GET(last_slot);
	v->last_pid = POOL_GET(last_pid);
	v->last_exit = POOL_GET(last_exit);
	v->last_signal = POOL_GET(last_signal);
	return true;
}
