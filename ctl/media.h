/*
 * media — `aiphotoctl media …`: operator work on the media store.
 */
#ifndef AIPHOTO_CTL_MEDIA_H
#define AIPHOTO_CTL_MEDIA_H

/*
 * argv holds the words after "media".
 *
 * `aiphotoctl media thumbs`: makes the missing thumbnails (360 and 720 px, lib/media) of
 * every image in MEDIA_DIR — the files stored before thumbnails existed; images that have
 * them are skipped, so it can run again at any time.  The thumbnails go to the configured
 * backend (MEDIA_BACKEND).  Prints how many images it looked at and which it could not
 * thumbnail.  Exit status: 0 all done, 1 some image failed (listed), 2 usage or MEDIA_DIR
 * unreadable.
 *
 * `aiphotoctl media migrate --to s3 [--dry-run]`: copies every stored file of MEDIA_DIR
 * (images and thumbnails) to the S3 bucket (S3_* configuration, whatever MEDIA_BACKEND
 * says), under the same key, so no database row changes: HEAD first, an object of the same
 * size is left alone, a missing one is uploaded — idempotent, and resumable after a stop.
 * --dry-run uploads nothing and counts what would be.  The local files are kept.  Prints
 * "media migrate: N files, P already in the bucket, U uploaded, F failed".  The first error
 * of the bucket (unreachable, 5xx after retries, 403) stops the walk.  Exit status: 0 all
 * there, 1 something failed (listed on stderr), 2 usage, S3_* missing or MEDIA_DIR
 * unreadable.
 */
int ctl_media(int argc, char **argv);

#endif
