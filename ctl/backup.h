/*
 * backup — `aiphotoctl backup` and `aiphotoctl restore` (docs/backup.md).
 *
 * A backup is one directory DIR/<UTC time, 20261205T001014.123Z> holding
 *   db.dump             pg_dump's custom format of the whole database
 *   media-manifest.tsv  every file of MEDIA_DIR: relative path, size, SHA-256 (tab-separated,
 *                       sorted by path); media are content-addressed, so the list lets an
 *                       operator check or rsync the store
 *   media/              (--with-media only) a copy of those files
 *   manifest.json       format, creation time, program version, schema migration level, and
 *                       the size and SHA-256 of db.dump and media-manifest.tsv
 * It is written under DIR/.partial-<name> and renamed into place when complete, so a
 * directory with a backup's name is always a whole backup; a failed run removes its partial
 * directory.  pg_dump and pg_restore (Debian's postgresql-client, found on PATH) are given
 * the connection through the environment (PGHOST, PGPASSWORD, …, from DATABASE_URL), never
 * on their command line.
 */
#ifndef AIPHOTO_CTL_BACKUP_H
#define AIPHOTO_CTL_BACKUP_H

/*
 * `aiphotoctl backup [--dir DIR] [--keep N] [--with-media]`: one backup into DIR (default
 * /var/backups/aiphoto, created 0700); then, with --keep, deletes the oldest complete
 * backups of DIR beyond the newest N (partial directories of runs that died are removed
 * too; one run at a time per DIR, under DIR/.lock).
 * `aiphotoctl backup --verify PATH`: checks one backup's sizes and checksums.
 * argv holds the words after "backup"; needs DATABASE_URL (and MEDIA_DIR).  Prints the
 * path of the new backup.  Exit status: 0 done, 1 failed (said why; nothing half-written
 * is left under a backup's name), 2 usage.
 */
int ctl_backup(int argc, char **argv);

/*
 * `aiphotoctl restore PATH [--clean]`: checks the backup (as --verify), refuses a database
 * that is not empty unless --clean (then what the dump holds is dropped first), runs
 * pg_restore in one transaction, checks that the restored schema is at the backup's
 * migration level, and copies the backup's media (when it has them) that MEDIA_DIR lacks.
 * Exit status: 0 restored, 1 refused or failed (said why), 2 usage.
 */
int ctl_restore(int argc, char **argv);

#endif
