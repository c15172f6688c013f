-- 0012: an index for the dispatcher's question "which ended tasks still wait for their
-- template message?" (model/works.c, WK_NOTICES).
--
-- Without it each batch of notices walked the primary key from the first task and skipped
-- every task already notified: a backlog of N ended tasks cost O(N^2) rows to work off
-- (20,000 tasks completed by the queue benchmark took a run 8-10 s, during which it claimed
-- nothing). The index holds only the backlog: a task leaves it when it is notified, and
-- queued, running and canceled tasks are never in it, so a batch reads its rows and no
-- others however many tasks the table holds. The predicate is the statement's own
-- (status IN (...) AND notified_at IS NULL), so the planner can use it.

CREATE INDEX tasks_notice_queue_idx ON tasks (id)
    WHERE notified_at IS NULL AND status IN ('completed', 'partial', 'failed');
