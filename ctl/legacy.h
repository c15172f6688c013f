/*
 * legacy — `aiphotoctl import` and `aiphotoctl export`: the WeChat cloud database's export
 * (JSON lines) in and back out, through model/legacy (docs/migration.md "Data in and out").
 */
#ifndef AIPHOTO_CTL_LEGACY_H
#define AIPHOTO_CTL_LEGACY_H

/*
 * `aiphotoctl import users|works|scenes|orders FILE` (argv: the two words after "import";
 * the configuration is loaded with the database).  Reads FILE a line at a time, applies the
 * documents in batches, prints a progress line at most once a second and a last one to
 * standard error (`import users: 5000/10000 inserted 4990 updated 0 skipped 0 malformed 10
 * rejected 0`), one line per document not applied (its line number, _id and reason), and
 * the totals as JSON on standard output.  Exit status: 0 every document was applied or
 * unchanged; 3 done, but some documents were malformed or rejected; 1 stopped (file
 * unreadable, database unavailable: the batches reported before are committed, and running
 * the same command again skips them); 2 usage or configuration (WECHAT_MP_APPID unset).
 */
int ctl_legacy_import(int argc, char **argv);

/*
 * `aiphotoctl export users|works|orders [--since TIME]`: the documents as JSON lines on
 * standard output, those changed at or after TIME (ISO 8601, or milliseconds since 1970)
 * when given; the count on standard error.  Exit status 0, 1 (database, or standard output
 * could not be written), 2 usage or configuration.
 */
int ctl_legacy_export(int argc, char **argv);

#endif
