-- 0002: the check-in state read by every GET /user/credits, kept on the user's row so that
-- the read is one primary-key lookup (the same cost as reading the balance).
--
-- Invariant: (last_checkin_day, checkin_streak) equal the day and streak of the user's
-- newest checkins row. The check-in statement sets them in the same statement that inserts
-- the checkins row and the ledger row; nothing else writes them.

ALTER TABLE users
    ADD COLUMN last_checkin_day date,
    ADD COLUMN checkin_streak integer NOT NULL DEFAULT 0 CHECK (checkin_streak >= 0);

UPDATE users u
   SET last_checkin_day = c.day, checkin_streak = c.streak
  FROM (SELECT DISTINCT ON (user_id) user_id, day, streak
          FROM checkins ORDER BY user_id, day DESC) c
 WHERE c.user_id = u.id;

COMMENT ON COLUMN users.last_checkin_day IS 'day of the newest checkins row (Asia/Shanghai), NULL if none';
COMMENT ON COLUMN users.checkin_streak IS 'streak of the newest checkins row; alive only if last_checkin_day is today or yesterday';
